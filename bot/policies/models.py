"""免申即享 storage: the enterprise profiles (企业画像库), the matches (政策匹配库) with their history,
the near misses, the WeChat / mini-program users bound to enterprises, and who was notified.

The 政策条件库 itself is content (guides/policies/*.yml), not a table. On the shared ``Base``, so
Alembic sees these; the schema is made by migration ``20261122_5e1a7c9b3d20_policies``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.policies.fields import FIELDS
from bot.store.models import Base, utcnow


class MatchStatus(StrEnum):
    MATCHED = "matched"  # 系统智审：符合条件
    NOTIFIED = "notified"  # 已推送给企业
    CONFIRMED = "confirmed"  # 企业确认申领
    DECLINED = "declined"  # 企业表示不适用
    PAID = "paid"  # 已兑现（工作人员登记）


STATUS_LABELS: dict[str, str] = {
    MatchStatus.MATCHED: "符合条件",
    MatchStatus.NOTIFIED: "已通知",
    MatchStatus.CONFIRMED: "已确认申领",
    MatchStatus.DECLINED: "企业表示不适用",
    MatchStatus.PAID: "已兑现",
}
ACTOR_TYPES: tuple[str, ...] = ("system", "enterprise", "staff")
CHANNELS: tuple[str, ...] = ("web", "wechat", "mp")


def _in(column: str, values: tuple[str, ...] | list[str]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


_COLUMN_TYPES = {
    "enum": lambda: String(32),
    "code": lambda: String(8),
    "int": lambda: Integer(),
    "decimal": lambda: Numeric(14, 2),
    "date": lambda: Date(),
    "bool": lambda: Boolean(),
}


class Enterprise(Base):
    """One market entity's profile, as last imported from the shared data (upserted by uscc)."""

    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18))  # 统一社会信用代码, check digit verified on import
    name: Mapped[str] = mapped_column(String(200))
    legal_rep: Mapped[str | None] = mapped_column(String(50))  # 法定代表人 / 经营者
    # 登记的联系手机: where the binding code is sent (SMS verifier). Personal: never logged or returned in full.
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    data_as_of: Mapped[date | None] = mapped_column(Date)  # the date of the shared-data export
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("uscc"),)

    def __repr__(self) -> str:
        return f"Enterprise(uscc={self.uscc!r})"


# One nullable column per profile field: the SQL compiler addresses them by name.
for _f in FIELDS:
    _python_type: Any = {"enum": str, "code": str, "int": int, "decimal": Decimal, "date": date, "bool": bool}[_f.type]
    setattr(Enterprise, _f.name, mapped_column(_f.name, _COLUMN_TYPES[_f.type](), nullable=True))
    Enterprise.__annotations__[_f.name] = Mapped[_python_type | None]
del _f


class EnterpriseList(Base):
    """Membership of a named list (名单类 policies: 专精特新名单, 稳岗返还名单 ...)."""

    __tablename__ = "enterprise_lists"

    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    list_code: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_enterprise_lists_list_code", "list_code"),)


class MatchRun(Base):
    """One full matching run (CLI or the worker's cron job), with what it found per policy."""

    __tablename__ = "policy_match_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(16))  # cli, cron, test, bench
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    stats: Mapped[dict[str, Any]]  # policy id -> {"matched", "new", "lapsed", "near_misses", "ms"}


class PolicyMatch(Base):
    """An enterprise that meets a policy (政策匹配库), and the claim's progress.

    ``facts`` are the enterprise's values of every field (and list) the policy uses, as they were
    when it first matched: what the notice and the chat show as the reason. ``current`` is whether it
    still matches as of the last run; only current matches are notified.
    """

    __tablename__ = "policy_matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12))
    current: Mapped[bool] = mapped_column(Boolean)
    facts: Mapped[dict[str, Any]]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("policy_match_runs.id"))
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("policy_id", "enterprise_id"),
        Index("ix_policy_matches_enterprise_id", "enterprise_id"),
        Index("ix_policy_matches_status_current", "status", "current"),
        CheckConstraint(_in("status", list(MatchStatus)), name="status"),
    )

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def __repr__(self) -> str:
        return f"PolicyMatch(id={self.id!r}, policy_id={self.policy_id!r}, status={self.status!r})"


class PolicyMatchEvent(Base):
    """One status change of a match: from, to, who, when. Only ever inserted."""

    __tablename__ = "policy_match_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("policy_matches.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor_type: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(128))  # the user id, the staff username, or system:...
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_policy_match_events_match_id", "match_id"),
        CheckConstraint(_in("actor_type", ACTOR_TYPES), name="actor_type"),
    )


class NearMiss(Base):
    """An enterprise one condition short of a 条件类 policy, as of the last run (replaced each run)."""

    __tablename__ = "policy_near_misses"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer)  # which top-level condition failed (0-based)
    facts: Mapped[dict[str, Any]]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("policy_match_runs.id"))

    __table_args__ = (
        UniqueConstraint("policy_id", "enterprise_id"),
        Index("ix_policy_near_misses_enterprise_id", "enterprise_id"),
    )


class Binding(Base):
    """A WeChat / mini-program user who may act for an enterprise (verified once)."""

    __tablename__ = "enterprise_bindings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))  # openid or session user; never logged in full
    channel: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(Boolean)
    verified_by: Mapped[str] = mapped_column(String(32))  # the verifier's name (sms, realname, test)
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)
    unbound_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("user_id", "enterprise_id"),
        Index("ix_enterprise_bindings_enterprise_id", "enterprise_id"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
    )


class BindingChallenge(Base):
    """A verification step under way: the code's hash, its expiry and the attempts used."""

    __tablename__ = "enterprise_binding_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, unguessable
    user_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_enterprise_binding_challenges_user_id_created_at", "user_id", "created_at"),)


class PolicyNotification(Base):
    """That one bound user was told of one match: written once per (match, user), by the push side."""

    __tablename__ = "policy_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("policy_matches.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    notified_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("match_id", "user_id"),)
