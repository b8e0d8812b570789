"""/api/v1/policies: 惠企政策 免申即享 for a bound enterprise user, called by the Rasa action server.

- ``GET /api/v1/policies/mine?user_id=U`` → ``{bound, enterprises, message, near_misses}``: ``message``
  is the chat's ``policies`` message (DESIGN.md: ``{"id","title","kind","why":[...],"status"}`` per
  policy, plus ``match_id``, ``enterprise``, labels and the benefit); ``bound`` false means the user
  has no company yet: offer binding (/api/v1/enterprise/bindings).
- ``GET /api/v1/policies/matches/{match_id}?user_id=U`` → the detail: benefit (and the level that
  applies), reasons, basis, validity, how it is paid or, for 暂时难以数据化类, the reduced materials
  and where to apply, the data used, the history.
- ``POST /api/v1/policies/matches/{match_id}/confirm`` ``{user_id}`` → 确认申领 (200, ``changed``
  false on a repeat).
- ``POST /api/v1/policies/matches/{match_id}/decline`` ``{user_id, reason?}`` → 不适用.
- ``POST /admin/api/policies/matches/{match_id}/paid`` ``{note?}`` → 兑现, by signed-in staff of the
  policy's department (or an administrator), with the desk's CSRF token in ``X-CSRF-Token``.

Errors: Chinese ``{"detail"}`` with 401/403 (staff), 404, 409, 422, 503; never a 500.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.admin import auth
from bot.complaints.calendar import beijing_today
from bot.policies import binding, service
from bot.policies.catalog import PolicyCatalog, PolicyStore, policy_store
from bot.policies.schemas import DeclineIn, PaidIn, UserIn
from bot.store.db import SessionDep
from bot.store.privacy import mask

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/policies", tags=["policies"])
staff_router = APIRouter(prefix="/admin/api/policies", tags=["staff desk"])

BUSY = "系统繁忙，请稍后再试"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "没有找到这项政策，或尚未绑定该企业"},
    409: {"description": "当前状态不允许这样做"},
    422: {"description": "输入有误（中文说明）"},
    503: {"description": BUSY},
}


def get_policies(request: Request) -> PolicyCatalog:
    # The app's store reads the versions published in the guide editor too (bot.app).
    store: PolicyStore | None = getattr(request.app.state, "policy_store", None)
    if store is None:
        settings = request.app.state.settings
        store = policy_store(settings.guides_dir, settings.guides_check_interval)
    return store.get()


def get_today(request: Request) -> date:
    """Today, unless the app was given a fixed day (tests): policy windows and reasons depend on it."""
    clock = getattr(request.app.state, "policy_today", None)
    return clock() if clock is not None else beijing_today()


PoliciesDep = Annotated[PolicyCatalog, Depends(get_policies)]
TodayDep = Annotated[date, Depends(get_today)]


def _user_id(user_id: str | None) -> str:
    user_id = (user_id or "").strip()
    if not user_id or len(user_id) > 128:
        raise HTTPException(status_code=422, detail="缺少 user_id（用户标识），或长度超过 128")
    return user_id


def _fail(session: Session, exc: Exception, what: str, who: str) -> HTTPException:
    session.rollback()
    if isinstance(exc, service.PolicyError | binding.BindingError):
        return HTTPException(status_code=exc.status_code, detail=exc.message)
    log.exception("policies: %s failed (%s)", what, mask(who))
    return HTTPException(status_code=503, detail=BUSY)


@router.get("/mine", responses={422: ERRORS[422], 503: ERRORS[503]})
def my_policies(
    session: SessionDep, catalog: PoliciesDep, today: TodayDep, user_id: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    user_id = _user_id(user_id)
    try:
        bound = binding.bindings_of(session, user_id)
        items = service.user_matches(session, catalog, user_id, today)
        near = service.user_near_misses(session, catalog, user_id, today)
    except SQLAlchemyError as exc:
        raise _fail(session, exc, "listing", user_id) from exc
    return {
        "bound": bool(bound),
        "enterprises": [{"uscc": e.uscc, "name": e.name} for _, e in bound],
        "message": {"type": "policies", "policies": [service.policy_info(i, today) for i in items]},
        "near_misses": near,
    }


@router.get("/matches/{match_id}", responses=ERRORS)
def policy_detail(
    match_id: int, session: SessionDep, catalog: PoliciesDep, today: TodayDep,
    user_id: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    user_id = _user_id(user_id)
    try:
        item = service.get_user_match(session, catalog, user_id, match_id)
        return service.detail(session, item, today)
    except (service.PolicyError, SQLAlchemyError) as exc:
        raise _fail(session, exc, "detail", user_id) from exc


def _change(session: Session, catalog: PolicyCatalog, today: date, match_id: int, user_id: str, action: str,
            reason: str | None = None) -> dict[str, Any]:
    try:
        item = service.get_user_match(session, catalog, user_id, match_id, lock=True)
        if action == "confirm":
            changed = service.confirm(session, item, user_id)
        else:
            changed = service.decline(session, item, user_id, reason)
        session.commit()
    except (service.PolicyError, SQLAlchemyError) as exc:
        raise _fail(session, exc, action, user_id) from exc
    return {"changed": changed, "policy": service.policy_info(item, today)}


@router.post("/matches/{match_id}/confirm", responses=ERRORS)
def confirm_claim(match_id: int, body: UserIn, session: SessionDep, catalog: PoliciesDep, today: TodayDep) -> dict[str, Any]:
    return _change(session, catalog, today, match_id, body.user_id, "confirm")


@router.post("/matches/{match_id}/decline", responses=ERRORS)
def decline_claim(match_id: int, body: DeclineIn, session: SessionDep, catalog: PoliciesDep, today: TodayDep) -> dict[str, Any]:
    return _change(session, catalog, today, match_id, body.user_id, "decline", body.reason)


@staff_router.post("/matches/{match_id}/paid", responses={401: {}, 403: {}, **ERRORS})
def mark_paid(
    match_id: int, body: PaidIn, request: Request, session: SessionDep, catalog: PoliciesDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    try:
        user = auth.current_user(request, session)
    except SQLAlchemyError as exc:
        raise _fail(session, exc, "staff look-up", "staff") from exc
    if user is None:
        raise auth.api_unauthorized()
    if not auth.same_origin(request) or not auth.tokens_match(user.csrf, x_csrf_token):
        raise HTTPException(status_code=403, detail="页面已过期或来源不明，请刷新页面后再试")
    try:
        match = session.get(service.PolicyMatch, match_id)
        policy = catalog.get(match.policy_id) if match is not None else None
        if match is None or policy is None:
            raise service.PolicyError(404, "没有找到这条匹配记录")
        if not user.admin and user.department not in (policy.department, *policy.co_departments):
            raise service.PolicyError(403, f"这项政策由{policy.department}兑现，您所在部门无权登记")
        match = service.mark_paid(session, match_id, user.username, body.note)
        session.commit()
    except (service.PolicyError, SQLAlchemyError) as exc:
        raise _fail(session, exc, "paid", user.username) from exc
    return {"match_id": match.id, "policy_id": match.policy_id, "status": match.status}
