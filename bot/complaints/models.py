"""Complaint tickets (有诉即办), their append-only event log, and staff accounts.

On the shared ``Base`` (bot.store.models), so Alembic sees them; the schema is made by the
migration ``20261122_3c1f6b8e2a47_complaints``. Statuses and event kinds are stored as short
ASCII codes; what citizens and staff read is the Chinese label (``STATUS_LABELS`` ...).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, event, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class Status(StrEnum):
    ACCEPTED = "accepted"  # 已受理
    TRANSFERRED = "transferred"  # 已转办
    IN_PROGRESS = "in_progress"  # 办理中
    ANSWERED = "answered"  # 已答复
    REVISITED = "revisited"  # 已回访
    CLOSED = "closed"  # 已办结


STATUS_LABELS: dict[str, str] = {
    Status.ACCEPTED: "已受理",
    Status.TRANSFERRED: "已转办",
    Status.IN_PROGRESS: "办理中",
    Status.ANSWERED: "已答复",
    Status.REVISITED: "已回访",
    Status.CLOSED: "已办结",
}

# Waiting for the department: these can run late and be escalated (督办).
OPEN_STATUSES = (Status.ACCEPTED, Status.TRANSFERRED, Status.IN_PROGRESS)


class EventKind(StrEnum):
    ACCEPTED = "accepted"  # 受理
    TRANSFERRED = "transferred"  # 转办
    STARTED = "started"  # 开始办理
    ANSWERED = "answered"  # 答复（反馈）
    RETURNED = "returned"  # 退回（分办错误）
    ESCALATED = "escalated"  # 督办（超期）
    REVISITED = "revisited"  # 回访
    CLOSED = "closed"  # 办结
    RATED = "rated"  # 好差评
    REOPENED = "reopened"  # 重新办理（不满意）


EVENT_LABELS: dict[str, str] = {
    EventKind.ACCEPTED: "受理",
    EventKind.TRANSFERRED: "转办",
    EventKind.STARTED: "开始办理",
    EventKind.ANSWERED: "答复",
    EventKind.RETURNED: "退回",
    EventKind.ESCALATED: "督办",
    EventKind.REVISITED: "回访",
    EventKind.CLOSED: "办结",
    EventKind.RATED: "评价",
    EventKind.REOPENED: "重新办理",
}

RATINGS: tuple[str, ...] = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
DISSATISFIED: frozenset[str] = frozenset({"不满意", "非常不满意"})
CATEGORIES: tuple[str, ...] = ("投诉", "举报", "求助", "咨询", "建议")
CHANNELS: tuple[str, ...] = ("web", "wechat", "mp")
ROLES: tuple[str, ...] = ("staff", "admin")
ACTOR_TYPES: tuple[str, ...] = ("citizen", "staff", "system")


def _in(column: str, values: tuple[str, ...] | list[str]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Ticket(Base):
    """One complaint (诉求), from acceptance to 办结.

    Changed only through bot.complaints.service, which appends a TicketEvent for every change;
    ``version`` makes concurrent changes fail (StaleDataError) instead of overwriting each other.
    ``user_id`` and ``phone`` are personal: never logged in full (bot.store.privacy.mask).
    """

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    no: Mapped[str] = mapped_column(String(24))  # TS20261123-483920: shown to the citizen, no PII
    user_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))  # the submission's content, to spot a reused key
    text: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(200))
    guide_id: Mapped[str | None] = mapped_column(String(64))
    guide_title: Mapped[str | None] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164 (+86...), or None: the user may decline
    category: Mapped[str] = mapped_column(String(8))
    departments: Mapped[list[str]]  # 承办部门, the first one leads
    returned_by: Mapped[list[str]]  # departments that returned it as misrouted: never routed to again
    status: Mapped[str] = mapped_column(String(16))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    sla_start: Mapped[datetime]  # accepted_at, or when it was last reopened
    deadline: Mapped[date] = mapped_column(Date)  # Beijing date, inclusive
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(100))
    rating: Mapped[str | None] = mapped_column(String(8))  # of the current answer
    rated_at: Mapped[datetime | None]
    escalated_for: Mapped[date | None] = mapped_column(Date)  # the deadline whose overrun was escalated
    escalations: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    event_seq: Mapped[int] = mapped_column(default=0)  # the seq of its last event
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads this class attribute)
    __table_args__ = (
        UniqueConstraint("no"),
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_tickets_user_id_accepted_at", "user_id", "accepted_at"),
        Index("ix_tickets_status_deadline", "status", "deadline"),
        CheckConstraint(_in("status", list(Status)), name="status"),
        CheckConstraint(_in("category", CATEGORIES), name="category"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(f"rating IS NULL OR {_in('rating', RATINGS)}", name="rating"),
    )

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def __repr__(self) -> str:  # no user id or phone: reprs end up in logs and tracebacks
        return f"Ticket(no={self.no!r}, status={self.status!r})"


class TicketEvent(Base):
    """One change of a ticket: what happened, who did it, when. Written once, never changed.

    Append-only three times over: the service only inserts, the ORM refuses updates and deletes,
    and database triggers (created by the migration) refuse UPDATE and DELETE.
    """

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    seq: Mapped[int]  # 1, 2, 3 ... per ticket, in order
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_type: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(128))  # staff username, the citizen's user id, or system:...
    actor_department: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("ticket_id", "seq"),
        CheckConstraint(_in("kind", list(EventKind)), name="kind"),
        CheckConstraint(_in("actor_type", ACTOR_TYPES), name="actor_type"),
    )

    @property
    def label(self) -> str:
        return EVENT_LABELS.get(self.kind, self.kind)

    def __repr__(self) -> str:
        return f"TicketEvent(ticket_id={self.ticket_id!r}, seq={self.seq!r}, kind={self.kind!r})"


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(TicketEvent, "before_update")
def _refuse_update(*_: object) -> None:
    raise AppendOnlyError("ticket events are append-only")


@event.listens_for(TicketEvent, "before_delete")
def _refuse_delete(*_: object) -> None:
    raise AppendOnlyError("ticket events are append-only")


class StaffAccount(Base):
    """A member of staff who works the complaint queue of one department at the desk (bot/admin)."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(8), default="staff")
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    active: Mapped[bool] = mapped_column(default=True)
    # May edit the dialogue guides of the department in the browser (/admin/guides); administrators
    # may edit every guide and the reply wording whatever this says.
    guide_editor: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("username"),
        CheckConstraint(_in("role", ROLES), name="role"),
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __repr__(self) -> str:  # never the hash
        return f"StaffAccount(username={self.username!r}, department={self.department!r}, role={self.role!r})"
