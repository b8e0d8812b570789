"""/api/v1/enterprise/bindings: an enterprise user binds their WeChat / mini-program identity to a
company (统一社会信用代码 + a verification code), lists and ends their bindings.

Called by the Rasa action server with the chat user's id (internal API, like /api/v1/complaints).

- ``POST /api/v1/enterprise/bindings`` ``{user_id, channel, uscc}`` → 201 ``{challenge_id, method,
  hint, expires_at, enterprise: {uscc, name}}``: the code is on its way (SMS / 豫事办 in production).
- ``POST /api/v1/enterprise/bindings/verify`` ``{user_id, challenge_id, code}`` → 201 ``{binding}``.
- ``GET /api/v1/enterprise/bindings?user_id=U`` → ``{bindings: [...]}``.
- ``POST /api/v1/enterprise/bindings/{uscc}/unbind`` ``{user_id}`` → 200 ``{unbound: {uscc, name}}``.

Errors are Chinese ``{"detail": ...}``: 404 (unknown enterprise or challenge), 409 (already bound,
already verified), 410 (code expired), 422 (bad code or 统一社会信用代码, with the reason), 429 (too
many tries), 503 (database busy); never a 500.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.policies import binding
from bot.policies.models import Binding, Enterprise
from bot.policies.schemas import BindStartIn, BindVerifyIn, UserIn
from bot.store.db import SessionDep
from bot.store.privacy import mask

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/enterprise/bindings", tags=["enterprise binding"])

BUSY = "系统繁忙，请稍后再试"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "没有找到企业或这次验证"},
    409: {"description": "已绑定，或已验证"},
    410: {"description": "验证码已过期"},
    422: {"description": "输入有误（中文说明）"},
    429: {"description": "尝试次数过多"},
    503: {"description": BUSY},
}


def get_verifier(request: Request) -> binding.Verifier:
    """The verifier the app was set up with (``app.state.enterprise_verifier``), else one from the settings."""
    verifier = getattr(request.app.state, "enterprise_verifier", None)
    if verifier is None:
        verifier = make_verifier(request.app.state.settings)
        request.app.state.enterprise_verifier = verifier
    return verifier


def make_verifier(settings: Any) -> binding.Verifier:
    name = getattr(settings, "enterprise_verifier", "test")
    if name == "test":
        log.warning("enterprise binding uses the TEST verifier: codes are not sent anywhere (set ENTERPRISE_VERIFIER)")
        return binding.TestVerifier(fixed_code=getattr(settings, "enterprise_test_code", None))
    raise RuntimeError(f"unknown ENTERPRISE_VERIFIER {name!r}: plug in an SMS or 豫事办 verifier (bot/policies/binding.py)")


VerifierDep = Annotated[binding.Verifier, Depends(get_verifier)]


def binding_view(row: Binding, enterprise: Enterprise) -> dict[str, Any]:
    return {
        "uscc": enterprise.uscc, "name": enterprise.name, "channel": row.channel, "bound_at": row.bound_at.isoformat(),
        "verified_by": row.verified_by,
    }


def _fail(session: Session, exc: Exception, what: str, user_id: str) -> HTTPException:
    session.rollback()
    if isinstance(exc, binding.BindingError):
        return HTTPException(status_code=exc.status_code, detail=exc.message)
    log.exception("enterprise binding: %s failed (user %s)", what, mask(user_id))
    return HTTPException(status_code=503, detail=BUSY)


@router.post("", status_code=201, responses=ERRORS)
def start_binding(body: BindStartIn, session: SessionDep, verifier: VerifierDep) -> dict[str, Any]:
    try:
        started = binding.start(session, verifier, body.user_id, body.channel, body.uscc)
        session.commit()
    except (binding.BindingError, SQLAlchemyError) as exc:
        raise _fail(session, exc, "start", body.user_id) from exc
    return {
        "challenge_id": started.challenge_id, "method": verifier.name, "hint": started.hint,
        "expires_at": started.expires_at.isoformat(),
        "enterprise": {"uscc": started.enterprise.uscc, "name": started.enterprise.name},
    }


@router.post("/verify", status_code=201, responses=ERRORS)
def verify_binding(body: BindVerifyIn, session: SessionDep) -> dict[str, Any]:
    try:
        row, enterprise = binding.verify(session, body.user_id, body.challenge_id, body.code)
        session.commit()
    except binding.BindingError as exc:
        session.commit()  # a wrong code still counts as a try
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc
    except SQLAlchemyError as exc:
        raise _fail(session, exc, "verify", body.user_id) from exc
    return {"binding": binding_view(row, enterprise)}


@router.get("", responses={422: ERRORS[422], 503: ERRORS[503]})
def list_bindings(session: SessionDep, user_id: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    user_id = (user_id or "").strip()
    if not user_id or len(user_id) > 128:
        raise HTTPException(status_code=422, detail="缺少 user_id（用户标识），或长度超过 128")
    try:
        rows = binding.bindings_of(session, user_id)
    except SQLAlchemyError as exc:
        raise _fail(session, exc, "list", user_id) from exc
    return {"bindings": [binding_view(row, enterprise) for row, enterprise in rows]}


@router.post("/{uscc}/unbind", responses=ERRORS)
def unbind(uscc: str, body: UserIn, session: SessionDep) -> dict[str, Any]:
    try:
        enterprise = binding.unbind(session, body.user_id, uscc)
        session.commit()
    except (binding.BindingError, SQLAlchemyError) as exc:
        raise _fail(session, exc, "unbind", body.user_id) from exc
    return {"unbound": {"uscc": enterprise.uscc, "name": enterprise.name}}
