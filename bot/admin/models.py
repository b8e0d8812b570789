"""Staff desk sessions, kept in the database (every bot process sees them; logout ends them at once).

The browser holds a random token (256 bits) in an HttpOnly cookie; the table holds only its SHA-256,
so a copy of the table cannot be used to sign in. Each session has its own CSRF token, put in a
hidden field of every form and checked on every POST.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the cookie's token
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # absolute end, whatever the activity
    client: Mapped[str | None] = mapped_column(String(64))  # the address it was opened from

    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_staff_sessions_staff_id", "staff_id"),
        Index("ix_staff_sessions_expires_at", "expires_at"),
    )

    def __repr__(self) -> str:  # never the token or its hash
        return f"StaffSession(id={self.id!r}, staff_id={self.staff_id!r})"
