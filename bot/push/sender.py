"""Send one proactive message through wechatpy: claimed, rate-limited, recorded, at most once per key.

Every worker process builds one ``PushSender``. A send goes:

1. claim the key in the push log (a new row, or a ``retrying`` row, or a ``claimed`` row whose
   worker's lease lapsed); a key already sent, refused, failed, unknown or held elsewhere is
   skipped;
2. mark the row ``sending``, fenced by the attempt number, so a worker whose lease lapsed
   meanwhile backs off;
3. wait for a slot in the shared rate limit (Redis), at most half the call grace (else the row
   goes back to ``retrying``), set a "call started" marker in Redis, call WeChat at once, and
   record what came back.

The database writes come before the slot, so nothing slow lies between the slot and the call and
WeChat sees the configured rate. A worker killed in step 3 leaves a ``sending`` row: without the
marker the call never started and the row is sent again; with it, the outcome is unknown and the
message is never repeated (``settle_abandoned``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from wechatpy import WeChatClient

from bot.channels.wechat.errors import Failure, classify
from bot.push.models import CLAIMED, FAILED, REFUSED, RETRYING, SENDING, SENT, UNKNOWN, PushRecord
from bot.push.ratelimit import GlobalRateLimit
from bot.store.models import utcnow
from bot.store.privacy import mask

log = logging.getLogger(__name__)

Method = Literal["custom", "template", "subscribe"]
LEASE_SECONDS = 120  # a claim not turned into a send within this long may be taken over
# A row is "sending" while it waits for a rate slot and during the call: generous, since under a
# backlog the wait for a slot is long; only after this is a worker presumed dead.
CALL_GRACE_SECONDS = 900
MARKER_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Push:
    """One message to one user. ``subject`` names what it is about; the key adds the method."""

    subject: str
    kind: str
    user_id: str
    method: Method
    text: str | None = None  # custom (客服消息) text
    template_id: str | None = None  # template or subscribe message
    data: Mapping[str, Any] = field(default_factory=dict)
    link: str | None = None  # template: url; subscribe: mini-program page
    part: int = 0  # a long 客服消息 goes in parts, each its own key

    @property
    def key(self) -> str:
        return f"{self.subject}:{self.method}" + (f":{self.part + 1}" if self.part else "")


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # sent, refused, failed or being sent by another run: nothing done here
    REFUSED = "refused"  # terminal errcode
    RETRY = "retry"  # transient error: try again later (the row is ``retrying``)
    UNKNOWN = "unknown"  # the call may or may not have reached WeChat: never repeated


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    errcode: int | None = None


class NotConfigured(RuntimeError):
    pass


class PushSender:
    def __init__(
        self,
        engine: Engine,
        *,
        official_account: WeChatClient | None = None,
        mini_program: WeChatClient | None = None,
        rate_limit: GlobalRateLimit | None = None,
        lease_seconds: float = LEASE_SECONDS,
        call_grace_seconds: float = CALL_GRACE_SECONDS,
        call_threads: int = 16,
    ) -> None:
        self.engine = engine
        self.official_account = official_account
        self.mini_program = mini_program
        self.rate_limit = rate_limit
        self.lease = timedelta(seconds=lease_seconds)
        self.call_grace = timedelta(seconds=call_grace_seconds)
        self._calls = ThreadPoolExecutor(max_workers=call_threads, thread_name_prefix="wechat-push")

    def can_send(self, method: Method) -> bool:
        return (self.mini_program if method == "subscribe" else self.official_account) is not None

    async def send(self, push: Push) -> Result:
        if not self.can_send(push.method):
            raise NotConfigured(f"no WeChat client for {push.method} messages")
        attempt = await asyncio.to_thread(self._claim, push)
        if attempt is None:
            return Result(Outcome.SKIPPED)
        if not await asyncio.to_thread(self._start_sending, push.key, attempt):
            return Result(Outcome.SKIPPED)  # this run's lease lapsed and another run took the key over
        if self.rate_limit is not None:
            try:
                # Bounded well inside the call grace: a send still waiting past the grace would be
                # taken for an abandoned one and sent again by another run.
                await self.rate_limit.acquire(timeout=self.call_grace.total_seconds() / 2)
            except TimeoutError:
                await asyncio.to_thread(self._finish, push.key, RETRYING, None, "no send slot within half the call grace")
                log.warning("push %s: no send slot within %.0f s; retried later", push.kind, self.call_grace.total_seconds() / 2)
                return Result(Outcome.RETRY)
            await self.rate_limit.redis.set(self._marker(push.key), "1", ex=MARKER_TTL_SECONDS)
        try:
            # Its own threads: a call must not queue behind database work once its slot is granted.
            await asyncio.get_running_loop().run_in_executor(self._calls, self._call, push)
        except Exception as exc:  # every failure is classified and recorded
            failure = classify(exc)
            errcode = _errcode(exc)
            status = {Failure.TRANSIENT: RETRYING, Failure.TERMINAL: REFUSED, Failure.UNKNOWN: UNKNOWN}[failure]
            await asyncio.to_thread(self._finish, push.key, status, errcode, f"{type(exc).__name__}: {exc}"[:500])
            log.warning("push %s to %s: %s (errcode %s)", push.kind, mask(push.user_id), failure.value, errcode)
            outcome = {Failure.TRANSIENT: Outcome.RETRY, Failure.TERMINAL: Outcome.REFUSED, Failure.UNKNOWN: Outcome.UNKNOWN}
            return Result(outcome[failure], errcode)
        await asyncio.to_thread(self._finish, push.key, SENT, None, None)
        return Result(Outcome.SENT)

    # --- the push log ------------------------------------------------------------------------

    def _claim(self, push: Push) -> int | None:
        now = utcnow()
        with Session(self.engine) as session:
            session.add(PushRecord(
                key=push.key, subject=push.subject, kind=push.kind, user_id=push.user_id, method=push.method,
                status=CLAIMED, attempts=1, lease_until=now + self.lease, created_at=now, updated_at=now,
            ))
            try:
                session.commit()
                return 1
            except IntegrityError:
                session.rollback()
            attempts = session.execute(
                update(PushRecord)
                .where(PushRecord.key == push.key, or_(
                    PushRecord.status == RETRYING, and_(PushRecord.status == CLAIMED, PushRecord.lease_until < now),
                ))
                .values(status=CLAIMED, attempts=PushRecord.attempts + 1, lease_until=now + self.lease, updated_at=now)
                .returning(PushRecord.attempts)
            ).scalar_one_or_none()
            session.commit()
            return attempts

    def _start_sending(self, key: str, attempt: int) -> bool:
        now = utcnow()
        with Session(self.engine) as session:
            result = session.execute(
                update(PushRecord)
                .where(PushRecord.key == key, PushRecord.status == CLAIMED, PushRecord.attempts == attempt)
                .values(status=SENDING, lease_until=now + self.call_grace, updated_at=now)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _finish(self, key: str, status: str, errcode: int | None, error: str | None) -> None:
        now = utcnow()
        with Session(self.engine) as session:
            session.execute(
                update(PushRecord).where(PushRecord.key == key, PushRecord.status == SENDING)
                .values(status=status, errcode=errcode, error=error, updated_at=now, lease_until=None,
                        sent_at=now if status == SENT else None)
            )
            session.commit()

    def give_up(self, key: str) -> None:
        """Retries used up: a ``retrying`` row becomes ``failed`` (and is never tried again)."""
        with Session(self.engine) as session:
            session.execute(update(PushRecord).where(PushRecord.key == key, PushRecord.status == RETRYING)
                            .values(status=FAILED, updated_at=utcnow()))
            session.commit()

    def _marker(self, key: str) -> str:
        assert self.rate_limit is not None
        return f"{self.rate_limit.prefix}:calling:{key}"

    async def settle_abandoned(self, now: datetime | None = None) -> tuple[int, int]:
        """``sending`` rows whose worker died: sent again if the call never started, else ``unknown``.

        Returns (resent later: made ``retrying``, never to be repeated: made ``unknown``).
        """
        now = now or utcnow()
        keys = await asyncio.to_thread(self._abandoned, now)
        started: list[str] = []
        if keys and self.rate_limit is not None:
            flags = await self.rate_limit.redis.mget([self._marker(k) for k in keys])
            started = [k for k, flag in zip(keys, flags, strict=True) if flag]
        else:
            started = keys  # no marker to tell: assume the call was made (at most once)
        not_started = [k for k in keys if k not in set(started)]
        await asyncio.to_thread(self._settle, now, not_started, started)
        if keys:
            log.warning("pushes left by a stopped worker: %d to send again, %d unknown (not resent)",
                        len(not_started), len(started))
        return len(not_started), len(started)

    def _abandoned(self, now: datetime) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(PushRecord.key).where(PushRecord.status == SENDING,
                                                                     PushRecord.lease_until < now)))

    def _settle(self, now: datetime, retry: list[str], unknown: list[str]) -> None:
        with Session(self.engine) as session:
            for keys, status, error in ((retry, RETRYING, "worker stopped before calling WeChat"),
                                        (unknown, UNKNOWN, "worker stopped during the call to WeChat")):
                if keys:
                    session.execute(update(PushRecord).where(PushRecord.key.in_(keys), PushRecord.status == SENDING)
                                    .values(status=status, updated_at=now, lease_until=None, error=error))
            session.commit()

    def status(self, key: str) -> str | None:
        with Session(self.engine) as session:
            return session.scalar(select(PushRecord.status).where(PushRecord.key == key))

    # --- WeChat --------------------------------------------------------------------------------

    def _call(self, push: Push) -> None:
        if push.method == "custom":
            assert self.official_account is not None
            self.official_account.message.send_text(push.user_id, push.text or "")
        elif push.method == "template":
            assert self.official_account is not None
            self.official_account.message.send_template(push.user_id, push.template_id, dict(push.data), url=push.link)
        else:
            assert self.mini_program is not None
            self.mini_program.wxa.send_subscribe_message(push.user_id, push.template_id, dict(push.data), page=push.link)


def _errcode(exc: BaseException) -> int | None:
    try:
        code = getattr(exc, "errcode", None)
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None
