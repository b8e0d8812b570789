"""The push log: every proactive message, keyed so that it is sent at most once.

A row is claimed before anything is sent. Its status then tells what is known:

- ``claimed``: a worker holds it but has not called WeChat yet; if that worker dies the claim
  lapses after ``lease_until`` and another run takes it over (nothing was sent).
- ``sending``: the HTTP call to WeChat is under way. A worker killed here leaves the row in this
  state; whether WeChat got the message is unknowable (WeChat has no idempotency key), so it is
  never sent again: the sweep turns it into ``unknown``.
- ``sent``, ``refused`` (a terminal errcode: unsubscribed, refused, out of the window),
  ``retrying`` (a transient error; the job retries later with backoff), ``failed`` (retries used
  up), ``unknown``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow

CLAIMED, SENDING, SENT, RETRYING, REFUSED, FAILED, UNKNOWN = (
    "claimed", "sending", "sent", "retrying", "refused", "failed", "unknown",
)
PUSH_STATUSES: tuple[str, ...] = (CLAIMED, SENDING, SENT, RETRYING, REFUSED, FAILED, UNKNOWN)
FINAL_STATUSES: tuple[str, ...] = (SENT, REFUSED, FAILED, UNKNOWN)
PUSH_METHODS: tuple[str, ...] = ("custom", "template", "subscribe")


class PushRecord(Base):
    __tablename__ = "push_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    # At most one send per key, ever: e.g. "answer:42:custom", "policy:wjbf:91410100...:openid".
    key: Mapped[str] = mapped_column(String(255), unique=True)
    # What the message is about (without the method): the sweep finds subjects never pushed.
    subject: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # complaint_answer, policy ...
    user_id: Mapped[str] = mapped_column(String(128))  # the openid; never log in full
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(default=0)
    errcode: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_push_log_subject", "subject"),
        Index("ix_push_log_status_updated_at", "status", "updated_at"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in PUSH_STATUSES)})", name="status"),
        CheckConstraint(f"method IN ({', '.join(repr(s) for s in PUSH_METHODS)})", name="method"),
    )

    def __repr__(self) -> str:  # no user id: reprs end up in logs
        return f"PushRecord(key={self.key.split(':')[0]}…, status={self.status!r}, attempts={self.attempts!r})"
