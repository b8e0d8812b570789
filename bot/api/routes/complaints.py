"""/api/v1/complaints: 有诉即办 for citizens, called by the Rasa action server (internal API).

- ``POST /api/v1/complaints``: accept a complaint; 201 with the new ticket, or 200 with the same
  ticket when the idempotency key was already used (a retry or a double send). The ticket is
  committed before the answer is sent, so a confirmation always names a stored ticket.
- ``GET /api/v1/complaints?user_id=U``: the user's tickets, newest first, with the answer.
- ``POST /api/v1/complaints/{no}/rating``: 好差评 of the answer; 不满意 or 非常不满意 reopens it.

Errors are Chinese ``{"detail": ...}``: 404 (not this user's ticket), 409 (the status does not allow
it), 422 (invalid input, e.g. the phone number), 503 (database busy or down); never a 500.
The staff side (transfer, answer, return, ...) is bot.complaints.service, worked through the desk (bot/admin).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.channels import messages as m
from bot.complaints import service
from bot.complaints.rules import Rules, rules_store
from bot.complaints.schemas import ComplaintCreated, ComplaintIn, RatingIn, TicketList, TicketSummary, TicketView, ticket_message
from bot.guides.catalog import Catalog
from bot.store.db import SessionDep, begin_write
from bot.store.privacy import mask

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/complaints", tags=["complaints"])

BUSY = "系统繁忙，诉求暂未保存，请稍后再试"


def get_rules(request: Request) -> Rules:
    """guides/complaints/rules.yml of the app's guides directory, re-read when it changes."""
    settings = request.app.state.settings
    return rules_store(settings.guides_dir, settings.guides_check_interval).get()


def get_catalog_or_none(request: Request) -> Catalog | None:
    store = getattr(request.app.state, "catalog_store", None)
    return store.get() if store is not None else None


RulesDep = Annotated[Rules, Depends(get_rules)]
CatalogDep = Annotated[Catalog | None, Depends(get_catalog_or_none)]


def _error(session: Session, exc: service.ComplaintError) -> HTTPException:
    session.rollback()
    return HTTPException(status_code=exc.status_code, detail=exc.message)


def _busy(session: Session, what: str, user_id: str) -> HTTPException:
    session.rollback()
    log.exception("complaints: %s failed (user %s)", what, mask(user_id))
    return HTTPException(status_code=503, detail=BUSY)


_ERRORS = {
    404: {"description": "没有找到这个工单"},
    409: {"description": "当前状态不允许这样做"},
    422: {"description": "输入有误（中文说明）"},
    503: {"description": BUSY},
}


_SAME_KEY = {200: {"model": ComplaintCreated, "description": "同一提交编号，返回原工单"}}


@router.post("", status_code=201, responses={**_SAME_KEY, **_ERRORS})
def create_complaint(
    body: ComplaintIn, session: SessionDep, rules: RulesDep, catalog: CatalogDep, response: Response
) -> ComplaintCreated:
    submission = service.Submission(
        user_id=body.user_id, channel=body.channel, idempotency_key=body.idempotency_key, text=body.text,
        subject=body.subject, guide_id=body.guide_id, place=body.place, phone=body.phone,
    )
    try:
        ticket, created = service.create_ticket(session, submission, rules=rules, catalog=catalog)
        session.commit()  # stored before anything is confirmed to the user
    except service.ComplaintError as exc:
        raise _error(session, exc) from exc
    except SQLAlchemyError as exc:
        raise _busy(session, "saving a complaint", body.user_id) from exc
    if not created:
        response.status_code = 200
    return ComplaintCreated(ticket=TicketSummary.of(ticket), message=m.dump([ticket_message(ticket)])[0])


@router.get("", responses={422: _ERRORS[422], 503: _ERRORS[503]})
def list_complaints(
    session: SessionDep,
    user_id: Annotated[str | None, Query(description="the citizen's user id (1–128 characters)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TicketList:
    # Checked here, not by Query(...): the app's validation messages name body fields only.
    user_id = (user_id or "").strip()
    if not user_id or len(user_id) > 128:
        raise HTTPException(status_code=422, detail="缺少 user_id（用户标识），或长度超过 128")
    try:
        tickets = service.tickets_for_user(session, user_id, limit)
    except SQLAlchemyError as exc:
        raise _busy(session, "listing tickets", user_id) from exc
    return TicketList(tickets=[TicketView.of(t) for t in tickets])


@router.post("/{no}/rating", responses=_ERRORS)
def rate_complaint(no: str, body: RatingIn, session: SessionDep) -> TicketView:
    try:
        begin_write(session)  # a double tap waits for the first rating, then gets 409
        ticket = service.get_for_user(session, no, body.user_id)
        service.rate(session, ticket, body.rating, body.user_id)
        session.commit()
    except service.ComplaintError as exc:
        raise _error(session, exc) from exc
    except SQLAlchemyError as exc:
        raise _busy(session, "rating a ticket", body.user_id) from exc
    return TicketView.of(ticket)
