"""POST /api/v1/chat: the mini-program and web chat channel (DESIGN.md, “The chat API”)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field, field_validator, model_validator

from bot.api.deps import get_catalog, get_rasa
from bot.api.sessions import InvalidSession, SessionSigner
from bot.channels import messages as m
from bot.channels.conversation import converse
from bot.channels.rasa import RasaClient, RasaUnavailable
from bot.complaints.notifications import answer_messages
from bot.config import get_settings
from bot.guides.dialogue import not_understood

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["chat"])

_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]{1,40})(?P<entities>\{.{0,500}\})?$", re.DOTALL)


class ChatRequest(BaseModel):
    # Without MP_APP_ID the caller names the user; with it, the session token does (and this is ignored).
    user_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-.:@]+$")
    text: str | None = None
    payload: str | None = Field(default=None, max_length=600)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # A typed text starting with “/” would be read by Rasa as a button payload: never let it.
        value = value.strip().lstrip("/").strip()
        if not value:
            raise ValueError("消息不能为空，请输入您要办的事")
        limit = get_settings().max_text_chars
        if len(value) > limit:
            raise ValueError(f"消息太长了（{len(value)}字），请控制在{limit}字以内，简单说说您要办什么事")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> ChatRequest:
        if (self.text is None) == (self.payload is None):
            raise ValueError("请提供 text（用户输入）或 payload（按钮）其中之一")
        return self


class ChatResponse(BaseModel):
    messages: list[m.Message]


def check_payload(payload: str, known_intents: frozenset[str]) -> str:
    """A button payload must name an intent of the domain with flat string entities."""
    match = _PAYLOAD.match(payload.strip())
    if not match or match["intent"] not in known_intents:
        raise HTTPException(status_code=400, detail="无法识别的操作，请重新点选或直接输入文字")
    if match["entities"]:
        try:
            entities = json.loads(match["entities"])
        except json.JSONDecodeError:
            entities = None
        if not isinstance(entities, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= 100 for k, v in entities.items()
        ):
            raise HTTPException(status_code=400, detail="无法识别的操作，请重新点选或直接输入文字")
    return payload.strip()


@dataclass(frozen=True)
class Caller:
    user_id: str
    channel: Literal["web", "mp"]  # a mini-program session, or the web chat (demo identity or a named user)


def chat_user(body: ChatRequest, request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Who is talking: the session token's user when there is one (required with MP_APP_ID)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(status_code=401, detail="登录凭证格式不对，请重新登录")
        signer: SessionSigner = request.app.state.sessions
        try:
            session = signer.verify(token.strip())
        except InvalidSession as exc:
            raise HTTPException(status_code=401, detail="登录已过期或无效，请重新登录") from exc
        return Caller(session.user_id, "web" if session.demo else "mp")
    if request.app.state.settings.mp_app_id:
        raise HTTPException(status_code=401, detail="请先登录")
    if body.user_id is None:
        raise HTTPException(status_code=422, detail="缺少 user_id（用户标识）")
    return Caller(body.user_id, "web")


@router.post("/chat")
async def chat(
    body: ChatRequest, request: Request, rasa: Annotated[RasaClient, Depends(get_rasa)],
    caller: Annotated[Caller, Depends(chat_user)],
) -> ChatResponse:
    # The model validator guarantees exactly one of payload and text.
    message = check_payload(body.payload, request.app.state.known_intents) if body.payload is not None else str(body.text)
    try:
        messages = await converse(rasa, caller.user_id, message, lambda: not_understood(get_catalog(request)), caller.channel)
    except RasaUnavailable as exc:
        log.error("rasa unavailable: %s", exc)
        raise HTTPException(status_code=503, detail="服务暂时繁忙，请稍后再试") from exc
    # Answers to the user's complaints since the last turn come first (each once), then the reply.
    notices = await asyncio.to_thread(
        answer_messages, request.app.state.engine, lambda: get_catalog(request).wording, caller.user_id, caller.channel
    )
    return ChatResponse(messages=[*notices, *messages])
