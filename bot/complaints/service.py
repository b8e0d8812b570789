"""The complaint lifecycle (有诉即办): 受理、转办、办理、答复、回访、办结, 退回, 督办, 好差评 and 重新办理.

    已受理 ──转办──▶ 已转办 ──开始办理──▶ 办理中 ──答复──▶ 已答复 ──回访──▶ 已回访 ──办结──▶ 已办结
                       ▲  │                  │  ▲                │ 评价“不满意/非常不满意”（已答复/已回访/已办结）
                       └──┴──── 退回（重新分办）┘  └────────────────┘ 重新办理，新的办理时限

Every change appends a TicketEvent (who, when, what) in the same transaction; a change that the
current status does not allow raises InvalidTransition (409 at the API). Escalation (督办) marks
an overdue ticket and records it without changing its status.

Functions take the caller's Session and flush; the caller commits (one commit per request or job).
Concurrent changes to one ticket cannot overwrite each other: the ticket's ``version`` column
makes the later flush fail, which is raised as Conflict.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Engine, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bot.complaints import notifications
from bot.complaints.calendar import deadline_for, local_date
from bot.complaints.models import (
    DISSATISFIED,
    EVENT_LABELS,
    OPEN_STATUSES,
    RATINGS,
    STATUS_LABELS,
    EventKind,
    StaffAccount,
    Status,
    Ticket,
    TicketEvent,
)
from bot.complaints.phones import masked
from bot.complaints.rules import Routing, Rules
from bot.guides.catalog import Catalog
from bot.guides.schema import Guide
from bot.store.db import begin_write
from bot.store.models import utcnow
from bot.store.privacy import mask

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 4000
MAX_NOTE_CHARS = 2000
_NO_ATTEMPTS = 8


# --- errors -----------------------------------------------------------------------------------


class ComplaintError(Exception):
    """Something the caller asked for that cannot be done; ``message`` is Chinese, for people."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(ComplaintError):
    status_code = 404

    def __init__(self, message: str = "没有找到这个工单") -> None:
        super().__init__(message)


class InvalidTransition(ComplaintError):
    status_code = 409


class Conflict(ComplaintError):
    status_code = 409


class NotAllowed(ComplaintError):
    status_code = 403


class InvalidInput(ComplaintError):
    status_code = 422


# --- who -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a citizen (the ticket's owner), a member of staff, or a job."""

    type: Literal["citizen", "staff", "system"]
    name: str
    department: str | None = None
    admin: bool = False

    @classmethod
    def staff(cls, account: StaffAccount) -> Actor:
        return cls("staff", account.username, account.department, account.is_admin)

    @classmethod
    def citizen(cls, user_id: str) -> Actor:
        return cls("citizen", user_id)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls("system", f"system:{job}")

    def log_name(self) -> str:
        return mask(self.name) if self.type == "citizen" else self.name


def can(staff: StaffAccount | Actor, ticket: Ticket) -> bool:
    """Whether this member of staff may see and work the ticket: admins all, staff their department's."""
    if isinstance(staff, StaffAccount):
        if not staff.active:
            return False
        staff = Actor.staff(staff)
    if staff.type == "system":
        return True
    if staff.type != "staff":
        return False
    return staff.admin or (staff.department is not None and staff.department in (ticket.departments or []))


def _require(actor: Actor, ticket: Ticket) -> None:
    if actor.type == "staff" and not can(actor, ticket):
        raise NotAllowed(f"工单 {ticket.no} 不是{actor.department or '你所在部门'}承办的，无权处理")
    if actor.type == "citizen":
        raise NotAllowed("这一步只能由工作人员办理")


# --- creating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A complaint as submitted (already validated: phone in E.164 or None)."""

    user_id: str
    channel: str
    idempotency_key: str
    text: str
    subject: str | None = None
    guide_id: str | None = None
    place: str | None = None
    phone: str | None = None

    def fingerprint(self) -> str:
        """What makes two submissions the same complaint (a retry), whatever the key."""
        content = [self.channel, self.text.strip(), self.subject, self.guide_id, self.place, self.phone]
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


def new_ticket_no(day: date) -> str:
    """TS + the Beijing date + 6 random digits: TS20261123-048213. Nothing about the person."""
    return f"TS{day:%Y%m%d}-{secrets.randbelow(1_000_000):06d}"


def resolve_guide(catalog: Catalog | None, guide_id: str | None, subject: str | None) -> Guide | None:
    """The 一件事 the complaint is about: by id, else a subject that clearly names one."""
    if catalog is None:
        return None
    if guide_id and (guide := catalog.guide(guide_id)) is not None:
        return guide
    if subject:
        found = catalog.matcher.identify(subject)
        if found.outcome == "found" and found.best is not None:
            return catalog.guide(found.best.guide_id)
    return None


def _by_key(session: Session, user_id: str, key: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.user_id == user_id, Ticket.idempotency_key == key))


def create_ticket(
    session: Session,
    submission: Submission,
    *,
    rules: Rules,
    catalog: Catalog | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """Accept a complaint (已受理): ``(ticket, True)``, or ``(existing, False)`` when its key was used.

    A retried or double-sent submission (same user, same idempotency key) gives the ticket the
    first one made, also when both arrive at once: the unique (user_id, idempotency_key)
    constraint decides, and the loser reads the winner's ticket. The same key with different
    content is refused (Conflict): that is a client bug, not a retry.

    The INSERT comes first and the look-up only after a conflict: on SQLite a read before the
    write would pin a snapshot that a concurrent writer invalidates ("database is locked"),
    while a transaction that starts with the INSERT simply waits for the write lock.
    """
    now = now or utcnow()
    fingerprint = submission.fingerprint()
    guide = resolve_guide(catalog, submission.guide_id, submission.subject)
    category = rules.categorize(submission.text, submission.subject)
    routing = rules.route(submission.text, submission.subject, guide)
    deadline = deadline_for(now, len(routing.departments))
    actor = Actor.citizen(submission.user_id)
    for _ in range(_NO_ATTEMPTS):
        ticket = Ticket(
            no=new_ticket_no(local_date(now)),
            user_id=submission.user_id,
            channel=submission.channel,
            idempotency_key=submission.idempotency_key,
            request_hash=fingerprint,
            text=submission.text.strip(),
            subject=submission.subject,
            guide_id=guide.id if guide else submission.guide_id,
            guide_title=guide.title if guide else None,
            place=submission.place,
            phone=submission.phone,
            category=category,
            departments=list(routing.departments),
            returned_by=[],
            status=Status.ACCEPTED,
            accepted_at=now,
            sla_start=now,
            deadline=deadline,
            updated_at=now,
            event_seq=1,
        )
        try:
            with session.begin_nested():
                session.add(ticket)
                session.flush()
                session.add(
                    TicketEvent(
                        ticket_id=ticket.id, seq=1, kind=EventKind.ACCEPTED, from_status=None, to_status=Status.ACCEPTED,
                        actor_type=actor.type, actor=actor.name, actor_department=None, note=None,
                        data={
                            "category": category, "departments": list(routing.departments), "routing": routing.reason,
                            "deadline": deadline.isoformat(), "channel": submission.channel,
                        },
                        created_at=now,
                    )
                )
                session.flush()
        except IntegrityError:
            existing = _by_key(session, submission.user_id, submission.idempotency_key)
            if existing is None:
                continue  # the random number was taken: draw another
            if existing.request_hash != fingerprint:
                raise Conflict("这个提交编号（idempotency_key）已用于另一条诉求，请换一个编号") from None
            log.info("complaint resubmitted: ticket %s user=%s", existing.no, mask(submission.user_id))
            return existing, False
        log.info(
            "ticket %s accepted: category=%s departments=%s deadline=%s channel=%s user=%s phone=%s",
            ticket.no, category, ",".join(routing.departments), deadline.isoformat(), submission.channel,
            mask(submission.user_id), masked(submission.phone) or "-",
        )
        return ticket, True
    raise RuntimeError("no free ticket number after several attempts")


# --- reading -----------------------------------------------------------------------------------


def get_ticket(session: Session, no: str) -> Ticket | None:
    if not no or len(no) > 24:
        return None
    return session.scalar(select(Ticket).where(Ticket.no == no))


def get_for_user(session: Session, no: str, user_id: str) -> Ticket:
    """The user's own ticket; TicketNotFound for someone else's (no hint that it exists)."""
    ticket = get_ticket(session, no)
    if ticket is None or ticket.user_id != user_id:
        raise TicketNotFound()
    return ticket


def tickets_for_user(session: Session, user_id: str, limit: int = 20) -> list[Ticket]:
    """A user's tickets, newest first (at most 100)."""
    limit = max(0, min(limit, 100))
    if not limit:
        return []
    query = (
        select(Ticket)
        .where(Ticket.user_id == user_id)
        .order_by(Ticket.accepted_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def history(session: Session, ticket: Ticket) -> list[TicketEvent]:
    """The ticket's events in order (seq 1, 2, 3 ...)."""
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.seq)))


def can_rate(ticket: Ticket) -> bool:
    """好差评 is open once the department has answered, until the current answer is rated."""
    return (
        ticket.status in (Status.ANSWERED, Status.REVISITED, Status.CLOSED)
        and ticket.answered_at is not None
        and ticket.rating is None
    )


# --- changing ----------------------------------------------------------------------------------


def _append(
    session: Session,
    ticket: Ticket,
    kind: EventKind,
    from_status: str,
    actor: Actor,
    now: datetime,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    ticket.event_seq = (ticket.event_seq or 0) + 1
    ticket.updated_at = now
    event = TicketEvent(
        ticket_id=ticket.id, seq=ticket.event_seq, kind=kind, from_status=from_status, to_status=ticket.status,
        actor_type=actor.type, actor=actor.name, actor_department=actor.department, note=note, data=data or {},
        created_at=now,
    )
    session.add(event)
    return event


def _flush(session: Session, ticket: Ticket) -> None:
    no = ticket.no  # a failed flush expires the ticket: read what the message needs first
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(f"工单 {no} 刚被其他人更新，请刷新后重试") from exc


def _check_from(ticket: Ticket, allowed: Iterable[str], kind: EventKind) -> str:
    if ticket.status not in set(allowed):
        label = STATUS_LABELS.get(ticket.status, ticket.status)
        raise InvalidTransition(f"工单 {ticket.no} 当前状态为“{label}”，不能{EVENT_LABELS[kind]}")
    return ticket.status


def _text(value: str | None, what: str, limit: int, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{what}不能为空")
    if len(text) > limit:
        raise InvalidInput(f"{what}不能超过 {limit} 个字")
    return text or None


def _set_departments(ticket: Ticket, departments: Sequence[str]) -> None:
    ticket.departments = list(dict.fromkeys(departments))
    ticket.deadline = deadline_for(ticket.sla_start, len(ticket.departments))


def transfer(
    session: Session,
    ticket: Ticket,
    actor: Actor,
    departments: Sequence[str] | None = None,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """转办: send the ticket to its departments (as routed, or the ``departments`` given).

    From 已受理 or 已转办 (re-dispatch before anyone started). The deadline follows the number of
    departments (3 working days for one, 5 for several), counted from acceptance.
    """
    now = now or utcnow()
    _require(actor, ticket)
    from_status = _check_from(ticket, (Status.ACCEPTED, Status.TRANSFERRED), EventKind.TRANSFERRED)
    if departments is not None:
        names = [d.strip() for d in departments if d and d.strip()]
        if not names:
            raise InvalidInput("请至少选择一个承办部门")
        _set_departments(ticket, names)
    ticket.status = Status.TRANSFERRED
    _append(
        session, ticket, EventKind.TRANSFERRED, from_status, actor, now,
        note=_text(note, "转办说明", MAX_NOTE_CHARS, False),
        data={"departments": list(ticket.departments), "deadline": ticket.deadline.isoformat()},
    )
    _flush(session, ticket)
    log.info("ticket %s transferred to %s by %s", ticket.no, ",".join(ticket.departments), actor.log_name())
    return ticket


def start(session: Session, ticket: Ticket, actor: Actor, *, now: datetime | None = None) -> Ticket:
    """办理中: the department has taken the ticket up."""
    now = now or utcnow()
    _require(actor, ticket)
    from_status = _check_from(ticket, (Status.TRANSFERRED,), EventKind.STARTED)
    ticket.status = Status.IN_PROGRESS
    _append(session, ticket, EventKind.STARTED, from_status, actor, now)
    _flush(session, ticket)
    return ticket


def answer(session: Session, ticket: Ticket, text: str, actor: Actor, *, now: datetime | None = None) -> Ticket:
    """已答复: the department's answer (or solution plan), shown to the citizen, who may then rate it."""
    now = now or utcnow()
    _require(actor, ticket)
    body = _text(text, "答复内容", MAX_ANSWER_CHARS, True)
    from_status = _check_from(ticket, (Status.TRANSFERRED, Status.IN_PROGRESS), EventKind.ANSWERED)
    ticket.status = Status.ANSWERED
    ticket.answer = body
    ticket.answered_at = now
    ticket.answered_by = actor.department or actor.name
    ticket.rating = None  # a new answer is rated afresh
    ticket.rated_at = None
    _append(session, ticket, EventKind.ANSWERED, from_status, actor, now, note=body, data={"by": ticket.answered_by})
    _flush(session, ticket)
    notifications.record_answer(session, ticket, now)  # the citizen is told in their channel (same transaction)
    log.info("ticket %s answered by %s", ticket.no, ticket.answered_by)
    return ticket


def return_ticket(
    session: Session,
    ticket: Ticket,
    reason: str,
    actor: Actor,
    *,
    rules: Rules,
    catalog: Catalog | None = None,
    department: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """退回: a department says the ticket is not theirs; it is routed again without that department.

    Two events: 退回 (by the department, with the reason) and 转办 (by the routing rules, to the
    new departments). The deadline follows the new number of departments, still counted from
    acceptance: a misrouting inside the administration does not give it more time.
    """
    now = now or utcnow()
    _require(actor, ticket)
    why = _text(reason, "退回理由", MAX_NOTE_CHARS, True)
    from_status = _check_from(ticket, (Status.TRANSFERRED, Status.IN_PROGRESS), EventKind.RETURNED)
    returning = (department or actor.department or "").strip()
    if returning not in ticket.departments:
        raise InvalidTransition(f"“{returning or '未指明的部门'}”不是工单 {ticket.no} 的承办部门，不能退回")
    if returning == rules.default_department:
        raise InvalidTransition(f"{returning}是兜底分办部门，不能退回；请直接转办给具体部门")
    ticket.returned_by = [*dict.fromkeys([*(ticket.returned_by or []), returning])]
    ticket.status = Status.TRANSFERRED
    _append(session, ticket, EventKind.RETURNED, from_status, actor, now, note=why, data={"department": returning})
    guide = resolve_guide(catalog, ticket.guide_id, ticket.subject)
    routing: Routing = rules.route(ticket.text, ticket.subject, guide, exclude=ticket.returned_by)
    _set_departments(ticket, routing.departments)
    _append(
        session, ticket, EventKind.TRANSFERRED, Status.TRANSFERRED, Actor.system("routing"), now,
        data={"departments": list(ticket.departments), "routing": routing.reason, "deadline": ticket.deadline.isoformat()},
    )
    _flush(session, ticket)
    log.info("ticket %s returned by %s, routed again to %s", ticket.no, returning, ",".join(ticket.departments))
    return ticket


def revisit(session: Session, ticket: Ticket, actor: Actor, note: str | None = None, *, now: datetime | None = None) -> Ticket:
    """已回访: the citizen was called back about the answer (回访记录 in ``note``)."""
    now = now or utcnow()
    _require(actor, ticket)
    record = _text(note, "回访记录", MAX_NOTE_CHARS, False)
    from_status = _check_from(ticket, (Status.ANSWERED,), EventKind.REVISITED)
    ticket.status = Status.REVISITED
    _append(session, ticket, EventKind.REVISITED, from_status, actor, now, note=record)
    _flush(session, ticket)
    return ticket


def close(session: Session, ticket: Ticket, actor: Actor, note: str | None = None, *, now: datetime | None = None) -> Ticket:
    """已办结: closed after the callback."""
    now = now or utcnow()
    _require(actor, ticket)
    record = _text(note, "办结说明", MAX_NOTE_CHARS, False)
    from_status = _check_from(ticket, (Status.REVISITED,), EventKind.CLOSED)
    ticket.status = Status.CLOSED
    ticket.closed_at = now
    _append(session, ticket, EventKind.CLOSED, from_status, actor, now, note=record)
    _flush(session, ticket)
    log.info("ticket %s closed by %s", ticket.no, actor.log_name())
    return ticket


def _reopen(session: Session, ticket: Ticket, actor: Actor, reason: str, now: datetime) -> None:
    from_status = _check_from(ticket, (Status.ANSWERED, Status.REVISITED, Status.CLOSED), EventKind.REOPENED)
    ticket.status = Status.IN_PROGRESS
    ticket.reopen_count = (ticket.reopen_count or 0) + 1
    ticket.closed_at = None
    ticket.sla_start = now  # the departments get a new time limit for the second answer
    ticket.deadline = deadline_for(now, len(ticket.departments))
    _append(
        session, ticket, EventKind.REOPENED, from_status, actor, now, note=reason,
        data={"deadline": ticket.deadline.isoformat(), "reopen_count": ticket.reopen_count},
    )


def reopen(session: Session, ticket: Ticket, actor: Actor, reason: str, *, now: datetime | None = None) -> Ticket:
    """重新办理 (by staff, e.g. after a callback found the problem unsolved): back to 办理中."""
    now = now or utcnow()
    _require(actor, ticket)
    _reopen(session, ticket, actor, _text(reason, "重新办理的理由", MAX_NOTE_CHARS, True) or "", now)
    _flush(session, ticket)
    log.info("ticket %s reopened by %s", ticket.no, actor.log_name())
    return ticket


def rate(session: Session, ticket: Ticket, rating: str, user_id: str, *, now: datetime | None = None) -> Ticket:
    """好差评 by the ticket's owner, once per answer; 不满意 or 非常不满意 reopens the ticket (办理中)."""
    now = now or utcnow()
    if ticket.user_id != user_id:
        raise TicketNotFound()
    if rating not in RATINGS:
        raise InvalidInput(f"评价只能是：{'、'.join(RATINGS)}")
    if ticket.answered_at is None or ticket.status not in (Status.ANSWERED, Status.REVISITED, Status.CLOSED):
        raise InvalidTransition(f"工单 {ticket.no} 还没有答复，答复后才能评价")
    if ticket.rating is not None:
        raise InvalidTransition(f"工单 {ticket.no} 的这次答复已经评价过了（{ticket.rating}）")
    actor = Actor.citizen(user_id)
    ticket.rating = rating
    ticket.rated_at = now
    _append(session, ticket, EventKind.RATED, ticket.status, actor, now, data={"rating": rating})
    if rating in DISSATISFIED:
        _reopen(session, ticket, actor, f"用户评价“{rating}”", now)
    _flush(session, ticket)
    log.info("ticket %s rated %s", ticket.no, rating)
    return ticket


def escalate_overdue(session: Session, now: datetime | None = None, *, limit: int = 500) -> list[Ticket]:
    """督办: every open ticket past its deadline, escalated once per deadline and recorded.

    Open means still waiting for the department (已受理, 已转办, 办理中); a ticket is overdue
    from the day after its deadline (Beijing date). Its status does not change; ``escalations``
    counts, ``escalated_for`` remembers which deadline was missed (a reopened ticket with a new
    deadline can be escalated again). Safe to run from several workers at once: rows another
    sweep holds are skipped on PostgreSQL, and the version check stops a double escalation on
    both databases. The caller commits.
    """
    now = now or utcnow()
    today = local_date(now)
    begin_write(session)
    query = (
        select(Ticket)
        .where(
            Ticket.status.in_([s.value for s in OPEN_STATUSES]),
            Ticket.deadline < today,
            or_(Ticket.escalated_for.is_(None), Ticket.escalated_for != Ticket.deadline),
        )
        .order_by(Ticket.deadline, Ticket.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has no row locks and ignores it
    )
    escalated = list(session.scalars(query))
    actor = Actor.system("sla")
    for ticket in escalated:
        ticket.escalated_for = ticket.deadline
        ticket.escalations = (ticket.escalations or 0) + 1
        days = (today - ticket.deadline).days
        _append(
            session, ticket, EventKind.ESCALATED, ticket.status, actor, now,
            note=f"已超过办理时限（{ticket.deadline.isoformat()}）{days} 天，督办",
            data={"deadline": ticket.deadline.isoformat(), "days_overdue": days, "departments": list(ticket.departments)},
        )
    if escalated:
        try:
            session.flush()
        except StaleDataError as exc:
            raise Conflict("另一个督办任务同时在处理这些工单，请稍后重试") from exc
        for ticket in escalated:
            departments = ",".join(ticket.departments)
            log.warning("ticket %s overdue since %s: escalated (督办) for %s", ticket.no, ticket.deadline, departments)
    return escalated


def escalate_overdue_job(engine: Engine, now: datetime | None = None) -> list[str]:
    """For the scheduled SLA sweep: escalate in one transaction and commit; the numbers escalated.

    A sweep that collides with another one running at the same moment gives up quietly (the
    other one escalates those tickets); the next run picks up anything left.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            tickets = escalate_overdue(session, now)
            session.commit()
        except Conflict:
            session.rollback()
            log.info("overdue sweep collided with another one; leaving it to that one")
            return []
        return [t.no for t in tickets]
