"""The official account (公众号): one WeChat message in, the assistant's answer out, exactly once.

WeChat waits 5 seconds for the HTTP answer, then retries (3 tries in all) and finally shows the
user an error. So every message is claimed once in Redis (retries are dropped), the conversation
runs as a task, and the handler waits at most `reply_budget` for it: in time, the first part goes
back passively in the HTTP answer; late, the answer is `success` and the task delivers everything
through the customer-service message API (客服消息) when it is ready. Parts after the first always
go that way, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential
from wechatpy.replies import TextReply

from bot.channels.conversation import Fallback, converse
from bot.channels.messages import Message
from bot.channels.rasa import RasaClient, RasaUnavailable
from bot.channels.wechat.client import SharedTokenClient
from bot.channels.wechat.errors import is_transient
from bot.channels.wechat.inbound import Inbound, InboundVerifier
from bot.channels.wechat.keys import CUSTOMER_SERVICE_WINDOW_SECONDS, choices_key, last_inbound_key
from bot.channels.wechat.menu import load_menu
from bot.channels.wechat.render import WeChatRenderer, split_text
from bot.store.privacy import mask

log = logging.getLogger(__name__)

SEEN_TTL_SECONDS = 600  # WeChat's retries come within ~15 s; keep the claim well beyond that
CHOICES_TTL_SECONDS = 24 * 3600
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.。、]?\s*$")


@dataclass(frozen=True)
class Answer:
    parts: list[str]
    choices: list[str]


class OfficialAccount:
    def __init__(
        self,
        verifier: InboundVerifier,
        client: SharedTokenClient,
        renderer: WeChatRenderer,
        rasa: RasaClient,
        redis: aioredis.Redis,
        guides_dir: Path,
        fallback: Fallback,
        reply_budget: float = 4.0,
        max_text_chars: int = 500,
        key_prefix: str = "yishiban:wx",
        pending: Callable[[str], Awaitable[list[Message]]] | None = None,
    ) -> None:
        self.verifier = verifier
        self.client = client
        self.renderer = renderer
        self.rasa = rasa
        self.redis = redis
        self.guides_dir = guides_dir
        self.reply_budget = reply_budget
        self.max_text_chars = max_text_chars
        self.key_prefix = key_prefix
        self.fallback = fallback
        self._tasks: set[asyncio.Task[Any]] = set()
        # Answers to the user's complaints that no push reached them with: shown before the reply.
        self.pending = pending

    # --- the HTTP side ---------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> str | None:
        """The passive reply (XML, encrypted in safe mode), or None for WeChat's `success`."""
        try:
            claimed = await self.redis.set(f"{self.key_prefix}:seen:{inbound.dedupe_key}", "1", nx=True, ex=SEEN_TTL_SECONDS)
        except RedisError:
            # Without Redis a retry could not be told from a new message: say so, process nothing.
            log.exception("redis unavailable; wechat message from %s not processed", mask(inbound.openid))
            return self._passive(inbound, self._named("busy").parts[0])
        if not claimed:
            log.info("wechat retry dropped: %s from %s", inbound.dedupe_key, mask(inbound.openid))
            return None
        try:
            if not (inbound.message.type == "event" and inbound.message.event == "unsubscribe"):
                # The user wrote: 客服消息 may reach them for 48 hours (the push worker reads this).
                await self.redis.set(last_inbound_key(self.key_prefix, inbound.openid), int(time.time()),
                                     ex=CUSTOMER_SERVICE_WINDOW_SECONDS)
            return await self._reply(inbound)
        except RedisError:
            log.exception("redis failed while answering %s", mask(inbound.openid))
            return self._passive(inbound, self._named("busy").parts[0])

    async def _reply(self, inbound: Inbound) -> str | None:
        said = await self._what_the_user_says(inbound)
        if said is None:
            return None
        if isinstance(said, Answer):
            return self._passive(inbound, said.parts[0]) if said.parts else None

        passive: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._spawn(self._answer(inbound, said, passive))
        try:
            first = await asyncio.wait_for(asyncio.shield(passive), timeout=self.reply_budget)
        except TimeoutError:
            if passive.done() and not passive.cancelled():
                first = passive.result()
            else:
                passive.cancel()  # the task sees this and delivers everything by 客服消息
                log.info("wechat answer for %s is slow; it will follow by customer-service message", mask(inbound.openid))
                return None
        return self._passive(inbound, first)

    def _passive(self, inbound: Inbound, text: str) -> str:
        xml = TextReply(source=inbound.message.target, target=inbound.openid, content=text).render()
        if inbound.encrypted and self.verifier.crypto is not None:
            return self.verifier.crypto.encrypt_message(xml, inbound.nonce, inbound.timestamp)
        return xml

    async def _what_the_user_says(self, inbound: Inbound) -> str | Answer | None:
        """Text (or a payload) for the assistant, a fixed answer, or None when nothing is to be said."""
        message = inbound.message
        if message.type == "text":
            return await self._typed(inbound.openid, message.content or "")
        if message.type == "voice":
            recognition = (getattr(message, "recognition", None) or "").strip()
            if not recognition:
                return self._named("voice_unclear")
            return await self._typed(inbound.openid, recognition)
        if message.type == "event":
            if message.event in ("subscribe", "subscribe_scan"):
                # A returning follower: numbers typed after the welcome must not pick old choices.
                await self.redis.delete(choices_key(self.key_prefix, inbound.openid))
                return self._named("welcome")
            if message.event == "click":
                says = load_menu(self.guides_dir).says(message.key or "")
                if says is None:
                    log.warning("wechat menu key %r is not in menu.yml", message.key)
                    return self._named("unsupported")
                return says
            return None  # unsubscribe, view, location reports ...: nothing to say
        return self._named("unsupported")

    async def _typed(self, openid: str, text: str) -> str | Answer:
        # A typed “/...” would reach Rasa as a button payload: never let a typed text be one.
        text = text.strip().lstrip("/").strip()
        if not text:
            return self._named("unsupported")
        number = _NUMBER.match(text)
        if number:
            stored = await self.redis.get(choices_key(self.key_prefix, openid))
            choices: list[str] = json.loads(stored) if stored else []
            index = int(number.group(1)) - 1
            if 0 <= index < len(choices):
                return choices[index]
        if len(text) > self.max_text_chars:
            return self._named("too_long", length=len(text), limit=self.max_text_chars)
        return text

    def _named(self, name: str, **context: Any) -> Answer:
        return Answer(split_text(self.renderer.render_named(name, **context)), [])

    # --- the conversation, as a task ---------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, inbound: Inbound, said: str, passive: asyncio.Future[str]) -> None:
        try:
            answer = await self._converse(inbound.openid, said)
        except Exception:
            log.exception("wechat conversation failed for %s", mask(inbound.openid))
            answer = self._named("busy")
        first = 0
        if answer.parts and not passive.done():
            passive.set_result(answer.parts[0])
            first = 1
        for index in range(first, len(answer.parts)):
            await self._send_custom(inbound, index, answer.parts[index])

    async def _converse(self, openid: str, said: str) -> Answer:
        try:
            messages = await converse(self.rasa, openid, said, self.fallback, channel="wechat")
        except RasaUnavailable as exc:
            log.error("rasa unavailable for wechat: %s", exc)
            return self._named("busy")
        if self.pending is not None:
            try:
                messages = [*await self.pending(openid), *messages]
            except Exception:  # the reply must not fail for a notice; it stays pending
                log.exception("pending answers for %s could not be read", mask(openid))
        rendered = self.renderer.render(messages)
        if not rendered.parts:  # nothing printable (e.g. only empty texts): never leave the user without a word
            rendered = self.renderer.render(self.fallback())
        key = choices_key(self.key_prefix, openid)
        if rendered.choices:
            await self.redis.set(key, json.dumps(rendered.choices, ensure_ascii=False), ex=CHOICES_TTL_SECONDS)
        else:
            await self.redis.delete(key)
        return Answer(rendered.parts, rendered.choices)

    async def _send_custom(self, inbound: Inbound, index: int, text: str) -> None:
        # One claim per part: even a second process handed the same message cannot send it twice.
        sent_key = f"{self.key_prefix}:sent:{inbound.dedupe_key}:{index}"
        if not await self.redis.set(sent_key, "1", nx=True, ex=SEEN_TTL_SECONDS):
            return
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(is_transient), stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.5, max=8), reraise=True,
            ):
                with attempt:
                    await asyncio.to_thread(self.client.message.send_text, inbound.openid, text)
        except Exception:
            log.exception("customer-service message to %s failed (part %d)", mask(inbound.openid), index)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Let answers under way be delivered before the process stops."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.redis.aclose()
