"""The ORM models. The schema itself is created and changed only by the Alembic migrations in
bot/store/migrations; a change here needs a new migration (autogenerate, then read it)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Index, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations can name what they create and later drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON text on SQLite, JSONB on PostgreSQL (queryable and indexable there).
JSONType = JSON().with_variant(JSONB(), "postgresql")

NOTICE_ID_BYTES = 12  # 96 random bits: 16 URL-safe characters


def new_notice_id() -> str:
    """A random, unguessable public id: the link to a notice is the only key to it."""
    return secrets.token_urlsafe(NOTICE_ID_BYTES)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as UTC and
    read back with ``tzinfo=UTC``. Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: give a timezone-aware value (datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        dict[str, Any]: JSONType,
        dict[str, str]: JSONType,
        list[str]: JSONType,
        datetime: UTCDateTime(),
    }


class Notice(Base):
    """One 一次告知 as it was issued: written once, never changed.

    ``checklist`` is the full ``ChecklistMessage`` dump, so the notice can be shown again exactly
    as the citizen saw it even after the guide changes; ``guide_id``/``guide_title``/
    ``guide_version`` are copied out of it for counting and listing without reading the JSON.
    """

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_notice_id)
    user_id: Mapped[str] = mapped_column(String(128))  # never log in full: bot.store.privacy.mask
    guide_id: Mapped[str] = mapped_column(String(64))
    guide_title: Mapped[str] = mapped_column(String(200))
    guide_version: Mapped[str | None] = mapped_column(String(64))
    items: Mapped[list[str]]  # the sub-item ids the notice covers
    answers: Mapped[dict[str, str]]  # question id -> chosen value
    checklist: Mapped[dict[str, Any]]  # ChecklistMessage.model_dump(mode="json")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_notices_user_id_created_at", "user_id", "created_at"),
        Index("ix_notices_guide_id", "guide_id"),
    )

    def __repr__(self) -> str:  # no user id here: reprs end up in logs and tracebacks
        return f"Notice(guide_id={self.guide_id!r}, created_at={self.created_at!r})"


# Every model on Base must be imported with it, so Alembic (env.py, autogenerate) and the drift
# test see the whole schema. Imported last: those modules import Base from here.
from bot.admin import models as _admin_models  # noqa: E402, F401
from bot.complaints import models as _complaint_models  # noqa: E402, F401
from bot.complaints import notifications as _notifications  # noqa: E402, F401
from bot.policies import models as _policy_models  # noqa: E402, F401
from bot.push import models as _push_models  # noqa: E402, F401
from bot.store import content as _content  # noqa: E402, F401
