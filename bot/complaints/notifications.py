"""Telling citizens about their tickets: a pending notification per answer, delivered by a channel.

When a department answers a ticket (bot.complaints.service.answer), a ``CitizenNotification`` row is
written in the same transaction, holding the answer as it was. The channels deliver it in their own
way, worded by ``complaint_answer_notice`` in guides/templates/replies.yml and followed by the
好差评 buttons (``answer_notice``):

- the web chat and the mini-program (``POST /api/v1/chat``): prepended to the user's next reply
  (``deliver_pending``), then marked delivered;
- WeChat: the worker pushes it (bot.push.answers): a 客服消息 inside the 48-hour window, else a
  template message (official account) or a subscribe message (mini-program). What WeChat refuses
  for good goes back to pending and comes with the user's next turn in any channel.

A newer answer to the same ticket (after 不满意 reopened it) supersedes a notification still
pending, so a citizen is never told an answer that was replaced. Delivery is claimed with a
conditional UPDATE (``status='pending'``), so two chat turns arriving together deliver a
notification once, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Engine, ForeignKey, Index, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.channels import messages as m
from bot.guides.dialogue import payload
from bot.guides.wording import Wording
from bot.store.db import begin_write
from bot.store.models import Base, utcnow
from bot.store.privacy import mask

if TYPE_CHECKING:  # bot.store.models imports this module while bot.complaints.models may be half-loaded
    from bot.complaints.models import Ticket

log = logging.getLogger(__name__)

PENDING, DELIVERED, SUPERSEDED = "pending", "delivered", "superseded"
NOTIFICATION_STATUSES: tuple[str, ...] = (PENDING, DELIVERED, SUPERSEDED)
NOTIFICATION_KINDS: tuple[str, ...] = ("answered",)
# The chat API serves the web chat and the mini-program; WeChat tickets wait for the WeChat push.
CHAT_CHANNELS: tuple[str, ...] = ("web", "mp")
# Tickets from these channels are also pushed (bot.push.answers) rather than only shown on the next turn.
PUSHED_CHANNELS: tuple[str, ...] = ("wechat", "mp")
MAX_PER_TURN = 5  # at most this many are prepended to one reply; the rest come with the next ones
ANSWER_NOTICE = "complaint_answer_notice"  # its wording in guides/templates/replies.yml


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CitizenNotification(Base):
    """Something a citizen must be told about their ticket, until a channel has delivered it."""

    __tablename__ = "citizen_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))  # the ticket's owner; never log in full
    channel: Mapped[str] = mapped_column(String(16))  # where the ticket came from: where to tell them
    kind: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    event_seq: Mapped[int]  # the ticket event this tells about (the 答复)
    text: Mapped[str] = mapped_column(Text)  # the answer as it was when recorded (a later answer is a new row)
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    delivered_via: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("ticket_id", "event_seq"),
        Index("ix_citizen_notifications_user_id_status", "user_id", "status"),
        CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
    )

    def __repr__(self) -> str:  # no user id: reprs end up in logs
        return f"CitizenNotification(id={self.id!r}, ticket_id={self.ticket_id!r}, status={self.status!r})"


@dataclass(frozen=True)
class PendingNotice:
    """A notification with what its wording needs."""

    id: int
    ticket_no: str
    category: str
    answer: str


def answer_notice(wording: Wording, notice: PendingNotice) -> m.ChoicesMessage:
    """The answer as the citizen sees it, with the 好差评 buttons (非常满意 … 非常不满意)."""
    text = wording.render(ANSWER_NOTICE, category=notice.category, no=notice.ticket_no, answer=notice.answer)
    return m.ChoicesMessage(text=text, choices=rating_choices(notice.ticket_no))


def rating_choices(ticket_no: str) -> list[m.Choice]:
    from bot.complaints.models import RATINGS  # see the TYPE_CHECKING import above

    return [m.Choice(title=r, payload=payload("rate_ticket", ticket_no=ticket_no, rating=r)) for r in RATINGS]


def record_answer(session: Session, ticket: Ticket, now: datetime | None = None) -> CitizenNotification:
    """A pending notification of the ticket's current answer, whose last event is the 答复.

    Flushed; the caller commits (with the answer, in one transaction).
    """
    now = now or utcnow()
    session.execute(
        update(CitizenNotification)
        .where(CitizenNotification.ticket_id == ticket.id, CitizenNotification.status == PENDING)
        .values(status=SUPERSEDED, delivered_at=now, delivered_via=None)
        .execution_options(synchronize_session=False)
    )
    note = CitizenNotification(
        user_id=ticket.user_id, channel=ticket.channel, kind="answered", ticket_id=ticket.id, event_seq=ticket.event_seq,
        text=ticket.answer or "", status=PENDING, created_at=now,
    )
    session.add(note)
    session.flush()
    return note


def pending_push(session: Session, ticket: Ticket) -> int | None:
    """The id of the ticket's pending notification if a push (WeChat, mini-program) must deliver it."""
    if ticket.channel not in PUSHED_CHANNELS:
        return None
    return session.scalar(select(CitizenNotification.id).where(
        CitizenNotification.ticket_id == ticket.id, CitizenNotification.status == PENDING,
    ))


def pending_notifications(
    session: Session, user_id: str, channels: Iterable[str] | None = None, limit: int = MAX_PER_TURN
) -> list[CitizenNotification]:
    """The user's undelivered notifications, oldest first (only of tickets from ``channels``, if given)."""
    query = select(CitizenNotification).where(CitizenNotification.user_id == user_id, CitizenNotification.status == PENDING)
    if channels is not None:
        query = query.where(CitizenNotification.channel.in_(list(channels)))
    return list(session.scalars(query.order_by(CitizenNotification.id).limit(limit)))


def mark_delivered(session: Session, ids: Sequence[int], via: str, now: datetime | None = None) -> list[int]:
    """Mark these notifications delivered through ``via``; the ids this call actually claimed.

    An id already delivered (by a concurrent turn) or superseded is left alone and not returned,
    so the caller shows only what it claimed. The caller commits.
    """
    now = now or utcnow()
    claimed: list[int] = []
    for note_id in ids:
        result = session.execute(
            update(CitizenNotification)
            .where(CitizenNotification.id == note_id, CitizenNotification.status == PENDING)
            .values(status=DELIVERED, delivered_at=now, delivered_via=via)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(note_id)
    return claimed


def deliver_pending(
    engine: Engine, user_id: str, via: str, channels: Iterable[str] = CHAT_CHANNELS
) -> list[PendingNotice]:
    """For a chat turn: claim the user's pending notifications, commit, and return them.

    Never raises for a database problem: the chat answers without the notifications then, and
    they stay pending for the next turn.
    """
    channels = tuple(channels)
    try:
        with Session(engine, expire_on_commit=False) as session:
            # Most turns have nothing to deliver: find that out with one read, and no lock.
            if not pending_notifications(session, user_id, channels, limit=1):
                session.rollback()
                return []
            session.rollback()
            begin_write(session)  # SQLite: the write lock before reading what to claim
            notes = pending_notifications(session, user_id, channels)
            claimed = set(mark_delivered(session, [n.id for n in notes], via))
            tickets = _tickets_of(session, [n.ticket_id for n in notes if n.id in claimed])
            session.commit()
    except SQLAlchemyError:
        log.exception("notifications for %s could not be delivered; they stay pending", mask(user_id))
        return []
    if claimed:
        log.info("delivered %d notification(s) to %s via %s", len(claimed), mask(user_id), via)
    return [
        PendingNotice(n.id, tickets[n.ticket_id][0], tickets[n.ticket_id][1], n.text) for n in notes if n.id in claimed
    ]


def _tickets_of(session: Session, ticket_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    from bot.complaints.models import Ticket  # see the TYPE_CHECKING import above

    if not ticket_ids:
        return {}
    rows = session.execute(select(Ticket.id, Ticket.no, Ticket.category).where(Ticket.id.in_(list(ticket_ids))))
    return {row.id: (row.no, row.category) for row in rows}


def notice_of(session: Session, note_id: int) -> tuple[CitizenNotification, PendingNotice] | None:
    """A notification and its wording data, or None if there is no such row."""
    note = session.get(CitizenNotification, note_id)
    if note is None:
        return None
    no, category = _tickets_of(session, [note.ticket_id])[note.ticket_id]
    return note, PendingNotice(note.id, no, category, note.text)


def release(session: Session, note_id: int, via: str) -> bool:
    """Undo a claim whose delivery failed for good: pending again, for the user's next turn. The caller commits."""
    result = session.execute(
        update(CitizenNotification)
        .where(CitizenNotification.id == note_id, CitizenNotification.status == DELIVERED,
               CitizenNotification.delivered_via == via)
        .values(status=PENDING, delivered_at=None, delivered_via=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def answer_messages(engine: Engine, wording: Callable[[], Wording], user_id: str, via: str,
                    channels: Iterable[str] = CHAT_CHANNELS) -> list[m.Message]:
    """For a chat turn: the user's pending answers as messages with the 好差评 buttons, each once."""
    notices = deliver_pending(engine, user_id, via, channels)
    if not notices:
        return []
    current = wording()
    return [answer_notice(current, notice) for notice in notices]
