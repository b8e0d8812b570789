"""Telling WeChat users that their complaint was answered (issue 4, point 4).

Which way, by the channel the ticket came from:

- official account: a 客服消息 when the user wrote within the last 48 hours (WeChat's window; the
  bot records each inbound message's time in Redis), with the 好差评 choices numbered so that
  replying “2” rates 满意; otherwise, or when WeChat says the window closed, a template message;
- mini-program: a subscribe message (the user must have accepted it in the mini-program);
- the web chat: nothing to push; the next turn shows it.

The notification is claimed (pending → delivered) before the send, so a chat turn arriving at the
same moment cannot show it a second time. If WeChat refuses for good, the claim is undone and
the user's next turn in any channel shows the answer instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import redis.asyncio as aioredis
from sqlalchemy import Engine, String, and_, cast, exists, literal, or_, select
from sqlalchemy.orm import Session

from bot.channels.wechat.keys import choices_key, last_inbound_key
from bot.channels.wechat.render import WeChatRenderer
from bot.complaints import notifications
from bot.complaints.notifications import DELIVERED, PENDING, PUSHED_CHANNELS, CitizenNotification, PendingNotice, answer_notice
from bot.guides.wording import Wording
from bot.push.models import RETRYING, PushRecord
from bot.push.sender import Method, Outcome, Push, PushSender
from bot.push.wording import PushWording
from bot.store.models import utcnow
from bot.store.privacy import mask

log = logging.getLogger(__name__)

KIND = "complaint_answer"
STALE_RETRY = timedelta(minutes=15)  # a retrying push whose job vanished (Redis restarted) is picked up again

Delivery = Literal["sent", "unknown", "retry", "refused", "waiting", "done"]


def subject(note_id: int) -> str:
    return f"answer:{note_id}"


@dataclass
class AnswerPushSettings:
    wx_prefix: str  # the official account's Redis key prefix
    template_id: str | None  # 公众号 template message for answers
    subscribe_template_id: str | None  # 小程序 subscribe message for answers
    subscribe_page: str | None = None  # the mini-program page the subscribe message opens
    choices_ttl_seconds: int = 24 * 3600


class AnswerPush:
    def __init__(
        self,
        engine: Engine,
        sender: PushSender,
        redis: aioredis.Redis,
        renderer: WeChatRenderer,
        wording: Callable[[], Wording],
        fields: PushWording,
        settings: AnswerPushSettings,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.redis = redis
        self.renderer = renderer
        self.wording = wording
        self.fields = fields
        self.settings = settings

    async def methods_for(self, channel: str, openid: str) -> list[Method]:
        methods: list[Method] = []
        if channel == "wechat":
            if await self.redis.exists(last_inbound_key(self.settings.wx_prefix, openid)):
                methods.append("custom")
            if self.settings.template_id:
                methods.append("template")
        elif channel == "mp" and self.settings.subscribe_template_id:
            methods.append("subscribe")
        return [m for m in methods if self.sender.can_send(m)]

    async def deliver(self, note_id: int, *, last_try: bool = False) -> Delivery:
        found = await asyncio.to_thread(self._load, note_id)
        if found is None:
            return "done"
        note, notice = found
        if note.channel not in PUSHED_CHANNELS:
            return "done"
        resumed = self._resumable(note)
        if note.status != PENDING and resumed is None:
            # Delivered in a chat turn meanwhile, or superseded: a retry still pending is moot.
            for method in ("custom", "template", "subscribe"):
                self.sender.give_up(self._push_key(method, note_id))  # type: ignore[arg-type]
            return "done"
        methods = [resumed] if resumed else await self.methods_for(note.channel, note.user_id)
        if not methods:
            return "waiting"  # outside the window with no template configured: the next turn shows it
        for method in methods:
            via = f"wechat_{method}"
            if method != resumed and not await asyncio.to_thread(self._claim, note_id, via):
                return "done"
            outcome = await self._send(method, note, notice)
            if outcome in (Outcome.SENT, Outcome.UNKNOWN):
                log.info("answer to %s pushed by %s: %s", mask(note.user_id), method, outcome.value)
                return "sent" if outcome is Outcome.SENT else "unknown"
            if outcome is Outcome.SKIPPED and self.sender.status(self._push_key(method, note_id)) not in ("refused", "failed"):
                return "done"  # another run holds or finished this push; the claim stands
            await asyncio.to_thread(self._release, note_id, via)
            if outcome is Outcome.RETRY:
                if last_try:
                    self.sender.give_up(self._push_key(method, note_id))
                    return "refused"
                return "retry"
            # Refused for good by this way (e.g. 45015: the 48 hours are over): try the next one.
        return "refused"

    def _resumable(self, note: CitizenNotification) -> Method | None:
        """The method of a push this notification is claimed for that must be sent again (its worker died first)."""
        via = note.delivered_via or ""
        if note.status != DELIVERED or not via.startswith("wechat_"):
            return None
        method = via.removeprefix("wechat_")
        if method not in ("custom", "template", "subscribe"):
            return None
        return method if self.sender.status(self._push_key(method, note.id)) == RETRYING else None  # type: ignore[arg-type, return-value]

    @staticmethod
    def _push_key(method: Method, note_id: int) -> str:
        return f"{subject(note_id)}:{method}"

    async def _send(self, method: Method, note: CitizenNotification, notice: PendingNotice) -> Outcome:
        if method == "custom":
            rendered = self.renderer.render([answer_notice(self.wording(), notice)])
            key = choices_key(self.settings.wx_prefix, note.user_id)
            if rendered.choices:  # replying “2” rates 满意: stored before the send, so a quick reply finds it
                previous = await self.redis.get(key)
                await self.redis.set(key, json.dumps(rendered.choices, ensure_ascii=False), ex=self.settings.choices_ttl_seconds)
            outcome = Outcome.SKIPPED
            for index, part in enumerate(rendered.parts):
                push = Push(subject(note.id), KIND, note.user_id, "custom", text=part, part=index)
                result = await self.sender.send(push)
                if index == 0:
                    outcome = result.outcome
                    if outcome is not Outcome.SENT:
                        break  # nothing (or nothing known) arrived: no further parts
            if rendered.choices and outcome not in (Outcome.SENT, Outcome.UNKNOWN):
                # Not shown to the user: their numbers keep referring to what they last saw.
                if previous:
                    await self.redis.set(key, previous, ex=self.settings.choices_ttl_seconds)
                else:
                    await self.redis.delete(key)
            return outcome
        context = {"category": notice.category, "no": notice.ticket_no, "answer": notice.answer,
                   "departments": "、".join(await asyncio.to_thread(self._departments, note.ticket_id))}
        if method == "template":
            push = Push(subject(note.id), KIND, note.user_id, "template", template_id=self.settings.template_id,
                        data=self.fields.fields(KIND, "template", **context))
        else:
            push = Push(subject(note.id), KIND, note.user_id, "subscribe", template_id=self.settings.subscribe_template_id,
                        data=self.fields.fields(KIND, "subscribe", **context), link=self.settings.subscribe_page)
        return (await self.sender.send(push)).outcome

    # --- the database -------------------------------------------------------------------------

    def _load(self, note_id: int) -> tuple[CitizenNotification, PendingNotice] | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return notifications.notice_of(session, note_id)

    def _departments(self, ticket_id: int) -> list[str]:
        from bot.complaints.models import Ticket

        with Session(self.engine) as session:
            ticket = session.get(Ticket, ticket_id)
            return list(ticket.departments) if ticket is not None else []

    def _claim(self, note_id: int, via: str) -> bool:
        with Session(self.engine) as session:
            claimed = notifications.mark_delivered(session, [note_id], via)
            session.commit()
            return bool(claimed)

    def _release(self, note_id: int, via: str) -> None:
        with Session(self.engine) as session:
            notifications.release(session, note_id, via)
            session.commit()


def due_answers(engine: Engine, limit: int = 500) -> list[int]:
    """Answers of WeChat and mini-program tickets to push: pending and never pushed, or whose retry was lost."""
    now = utcnow()
    subject_of_note = literal("answer:") + cast(CitizenNotification.id, String)
    pushed = exists().where(PushRecord.subject == subject_of_note)
    stale_retry = exists().where(
        PushRecord.subject == subject_of_note, PushRecord.status == RETRYING, PushRecord.updated_at < now - STALE_RETRY,
    )
    with Session(engine) as session:
        query = (
            select(CitizenNotification.id)
            .where(CitizenNotification.channel.in_(PUSHED_CHANNELS),
                   or_(and_(CitizenNotification.status == PENDING, ~pushed), stale_retry))
            .order_by(CitizenNotification.id)
            .limit(limit)
        )
        return list(session.scalars(query))
