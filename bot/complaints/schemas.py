"""API shapes of complaints (/api/v1/complaints), kept apart from the ORM models.

Validation messages are Chinese (raised as ValueError, which the app's handler passes through).
A citizen's own phone number is only ever returned masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from bot.channels.messages import GuideRef, TicketInfo, TicketMessage
from bot.complaints.models import CHANNELS, RATINGS, Ticket
from bot.complaints.phones import masked, normalize_phone
from bot.complaints.service import can_rate

MAX_TEXT = 2000


def _optional(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what}应为文字")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"{what}不能超过 {limit} 个字")
    return text or None


def _required(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what}应为文字")
    text = value.strip()
    if not text:
        raise ValueError(f"{what}不能为空")
    if len(text) > limit:
        raise ValueError(f"{what}不能超过 {limit} 个字")
    return text


class ComplaintIn(BaseModel):
    user_id: str
    channel: Literal["web", "wechat", "mp"]
    idempotency_key: str = Field(description="1–128 characters; the same key again returns the same ticket")
    text: str = Field(description="the complaint, 1–2000 characters")
    subject: str | None = Field(default=None, description="the 事项 or department the user named")
    guide_id: str | None = None
    place: str | None = None
    phone: str | None = Field(default=None, description="mainland mobile or landline; null when the user declines")

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return _required(value, "user_id（用户标识）", 128)

    @field_validator("channel", mode="before")
    @classmethod
    def _channel(cls, value: Any) -> Any:
        if value not in CHANNELS:
            raise ValueError(f"channel（渠道）只能是 {'、'.join(CHANNELS)}")
        return value

    @field_validator("idempotency_key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> str:
        if not isinstance(value, str) or not 1 <= len(value) <= 128:
            raise ValueError("idempotency_key（提交编号）应为 1–128 个字符")
        return value

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return _required(value, "诉求内容", MAX_TEXT)

    @field_validator("subject", mode="before")
    @classmethod
    def _subject(cls, value: Any) -> str | None:
        return _optional(value, "所涉事项或部门", 200)

    @field_validator("guide_id", mode="before")
    @classmethod
    def _guide_id(cls, value: Any) -> str | None:
        return _optional(value, "guide_id", 64)

    @field_validator("place", mode="before")
    @classmethod
    def _place(cls, value: Any) -> str | None:
        return _optional(value, "地点", 200)

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise ValueError("联系电话应为文字")
        return normalize_phone(value)  # InvalidPhone is a ValueError with the Chinese message


class RatingIn(BaseModel):
    user_id: str
    rating: Literal["非常满意", "满意", "基本满意", "不满意", "非常不满意"]

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return _required(value, "user_id（用户标识）", 128)

    @field_validator("rating", mode="before")
    @classmethod
    def _rating(cls, value: Any) -> Any:
        if value not in RATINGS:
            raise ValueError(f"评价只能是：{'、'.join(RATINGS)}")
        return value


class TicketSummary(BaseModel):
    """The ticket as confirmed on submission."""

    no: str
    status: str  # 已受理 ...
    category: str
    departments: list[str]
    deadline: str  # Beijing date, YYYY-MM-DD, inclusive
    accepted_at: datetime

    @classmethod
    def of(cls, ticket: Ticket) -> TicketSummary:
        return cls(
            no=ticket.no, status=ticket.status_label, category=ticket.category, departments=list(ticket.departments),
            deadline=ticket.deadline.isoformat(), accepted_at=ticket.accepted_at,
        )


def ticket_message(ticket: Ticket) -> TicketMessage:
    """The channel message of type "ticket" (DESIGN.md), with the guide when it is about one."""
    guide = GuideRef(id=ticket.guide_id, title=ticket.guide_title) if ticket.guide_id and ticket.guide_title else None
    info = TicketInfo(
        no=ticket.no, status=ticket.status_label, category=ticket.category, departments=list(ticket.departments),
        deadline=ticket.deadline.isoformat(),
    )
    return TicketMessage(ticket=info, guide=guide)


class ComplaintCreated(BaseModel):
    ticket: TicketSummary
    message: dict[str, Any]  # TicketMessage dumped like every channel message (no null fields)


class TicketView(BaseModel):
    """A ticket as its owner follows it."""

    no: str
    status: str
    category: str
    departments: list[str]
    deadline: str
    accepted_at: datetime
    answer: str | None = None
    answered_at: datetime | None = None
    rating: str | None = None
    can_rate: bool
    phone: str | None = None  # masked: 138****5678

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        return cls(
            no=ticket.no, status=ticket.status_label, category=ticket.category, departments=list(ticket.departments),
            deadline=ticket.deadline.isoformat(), accepted_at=ticket.accepted_at, answer=ticket.answer,
            answered_at=ticket.answered_at, rating=ticket.rating, can_rate=can_rate(ticket), phone=masked(ticket.phone),
        )


class TicketList(BaseModel):
    tickets: list[TicketView]
