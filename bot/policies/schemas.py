"""Request shapes of the enterprise binding and policy APIs (bot/api/routes/enterprise.py, policies.py).

Called by the Rasa action server with the chat user's id, like /api/v1/complaints. Validation
messages are Chinese (ValueError text is passed through by the app's handler).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from bot.complaints.schemas import _optional, _required


class UserIn(BaseModel):
    user_id: str

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id(cls, value: Any) -> str:
        return _required(value, "user_id（用户标识）", 128)


class BindStartIn(UserIn):
    channel: Literal["web", "wechat", "mp"] = "wechat"
    uscc: str = Field(description="统一社会信用代码 (18 characters; spaces and lower case are accepted)")

    @field_validator("uscc", mode="before")
    @classmethod
    def _uscc(cls, value: Any) -> str:
        return _required(value, "统一社会信用代码", 40)


class BindVerifyIn(UserIn):
    challenge_id: str
    code: str

    @field_validator("challenge_id", mode="before")
    @classmethod
    def _challenge(cls, value: Any) -> str:
        return _required(value, "challenge_id（验证编号）", 64)

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return _required(value, "验证码", 12)


class DeclineIn(UserIn):
    reason: str | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: Any) -> str | None:
        return _optional(value, "原因", 500)


class PaidIn(BaseModel):
    note: str | None = None

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: Any) -> str | None:
        return _optional(value, "备注", 500)
