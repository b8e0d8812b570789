"""The push jobs of the arq worker (bot.worker): one job per message, a sweep for what is due.

``push_policy_notice(notice)`` pushes one 免申即享 notice (bot.push.policies) and
``push_policy_notices`` is its sweep, every minute and at the end of each matching run: one job per
(match, user), its id the push subject, so a notice queued or running is not queued twice.

``push_answer(note_id)`` pushes one complaint answer; transient WeChat errors retry it with
exponential backoff (arq's Retry), up to ``push_max_tries``. ``push_due`` runs every minute (and
the staff desk enqueues ``push_answer`` at once after an answer): it settles pushes abandoned by a
killed worker and enqueues every answer still due. Job ids are the subjects, so an answer already
queued or running is not queued twice (arq refuses a duplicate job id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from arq import ArqRedis, Retry

from bot.channels.wechat.client import SharedTokenClient
from bot.channels.wechat.render import WeChatRenderer
from bot.config import Settings
from bot.guides.catalog import CatalogStore
from bot.guides.versions import DatabaseSource
from bot.policies.catalog import PolicyStore
from bot.policies.service import PendingNotice
from bot.push.answers import AnswerPush, AnswerPushSettings, due_answers
from bot.push.policies import PolicyPush, PolicyPushSettings
from bot.push.policies import subject as policy_subject
from bot.push.quiet import QuietHours
from bot.push.ratelimit import GlobalRateLimit
from bot.push.sender import PushSender
from bot.push.wording import PushWording
from bot.store.models import utcnow

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300


def answer_job_id(queue: ArqRedis, note_id: int) -> str:
    """Within this deployment's queue: arq's job and result keys are not namespaced by the queue."""
    return f"{queue.default_queue_name}:push-answer:{note_id}"


def policy_job_id(prefix: str, match_id: int, user_id: str) -> str:
    """The push subject, within this deployment: arq's job keys are not namespaced by its queue."""
    return f"{prefix}:{policy_subject(match_id, user_id)}"


def backoff(job_try: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2 ** job_try))


def build(settings: Settings, engine: Any) -> dict[str, Any]:
    """What the push jobs need, for the worker's context (None where WeChat is not configured)."""
    if not settings.redis_url:
        raise RuntimeError("push needs REDIS_URL")
    sync_redis = redis.Redis.from_url(settings.redis_url)
    official_account = mini_program = None
    if settings.wechat_app_id and settings.wechat_app_secret:
        official_account = SharedTokenClient(settings.wechat_app_id, settings.wechat_app_secret,
                                             settings.wechat_api_base_url, sync_redis)
    if settings.mp_app_id and settings.mp_app_secret:
        mini_program = SharedTokenClient(settings.mp_app_id, settings.mp_app_secret, settings.wechat_api_base_url, sync_redis)
    sender = PushSender(
        engine, official_account=official_account, mini_program=mini_program,
        rate_limit=GlobalRateLimit(settings.redis_url, settings.push_rate_limit, settings.redis_key_prefix),
        lease_seconds=settings.push_lease_seconds, call_grace_seconds=settings.push_call_grace_seconds,
    )
    templates = settings.guides_dir / "templates" / "wechat"
    # Reply wording and policies published in the guide editor reach the worker as they reach the bot.
    catalogs = CatalogStore(settings.guides_dir, settings.guides_check_interval, DatabaseSource(lambda: engine))
    answers = AnswerPush(
        engine, sender, aioredis.Redis.from_url(settings.redis_url),
        WeChatRenderer(templates, settings.public_base_url), lambda: catalogs.get().wording, PushWording(templates),
        AnswerPushSettings(
            wx_prefix=f"{settings.redis_key_prefix}:wx", template_id=settings.wechat_template_complaint_answer,
            subscribe_template_id=settings.mp_template_complaint_answer, subscribe_page=settings.mp_complaint_page,
        ),
    )
    policy_catalogs = PolicyStore(settings.guides_dir, settings.guides_check_interval, DatabaseSource(lambda: engine))
    policy_notices = PolicyPush(
        engine, sender, policy_catalogs.get, PushWording(templates),
        PolicyPushSettings(template_id=settings.wechat_template_policy_notice,
                           subscribe_template_id=settings.mp_template_policy_notice, subscribe_page=settings.mp_policy_page),
    )
    return {"sender": sender, "answers": answers, "quiet": QuietHours.parse(settings.push_quiet_hours),
            "push_max_tries": settings.push_max_tries, "policies": policy_catalogs, "policy_notices": policy_notices,
            "push_sweep_batch": settings.push_sweep_batch, "redis_key_prefix": settings.redis_key_prefix}


def _quiet_until(ctx: dict[str, Any], now: datetime | None = None) -> datetime | None:
    quiet: QuietHours | None = ctx.get("quiet")
    return quiet.ends_after(now or utcnow()) if quiet else None


async def _push_job(ctx: dict[str, Any], what: str, deliver: Callable[[bool], Awaitable[str]]) -> str:
    """One push job: held in quiet hours, retried with backoff on "retry" (``deliver(last_try)``)."""
    if (resume := _quiet_until(ctx)) is not None:
        log.info("quiet hours: %s waits until %s", what, resume.isoformat())
        return "quiet"  # the sweep enqueues it again once the quiet hours are over
    job_try = int(ctx.get("job_try", 1))
    outcome = await deliver(job_try >= ctx["push_max_tries"])
    if outcome == "retry":
        raise Retry(defer=backoff(job_try))
    return outcome


async def push_answer(ctx: dict[str, Any], note_id: int) -> str:
    answers: AnswerPush = ctx["answers"]
    return await _push_job(ctx, f"answer {note_id}", lambda last_try: answers.deliver(note_id, last_try=last_try))


async def push_due(ctx: dict[str, Any]) -> int:
    """Settle abandoned sends; enqueue every answer that is due. How many were enqueued."""
    engine = ctx["engine"]
    await ctx["sender"].settle_abandoned()
    if _quiet_until(ctx) is not None:
        return 0
    queue: ArqRedis = ctx["redis"]
    enqueued = 0
    for note_id in await asyncio.to_thread(due_answers, engine):
        if await queue.enqueue_job("push_answer", note_id, _job_id=answer_job_id(queue, note_id)) is not None:
            enqueued += 1
    if enqueued:
        log.info("push sweep: %d answer(s) enqueued", enqueued)
    return enqueued


async def enqueue_answer(queue: ArqRedis | None, note_id: int) -> None:
    """From the staff desk, right after an answer: push it now (the sweep would within a minute)."""
    if queue is None:
        return
    try:
        await queue.enqueue_job("push_answer", note_id, _job_id=answer_job_id(queue, note_id))
    except Exception:  # the sweep picks it up; the answer itself is stored
        log.exception("could not enqueue the push of answer %d", note_id)


# --- 免申即享 notices ---------------------------------------------------------------------------------


async def push_policy_notice(ctx: dict[str, Any], notice: dict[str, Any]) -> str:
    """One notice (``PendingNotice`` as a dict: plain data in the queue, whatever the code version)."""
    pending = PendingNotice(**notice)
    pusher: PolicyPush = ctx["policy_notices"]
    return await _push_job(ctx, f"policy notice {pending.match_id}",
                           lambda last_try: pusher.deliver(pending, last_try=last_try))


async def push_policy_notices(ctx: dict[str, Any]) -> int:
    """Settle abandoned sends; enqueue the notices due, one job per (match, user). How many were new."""
    await ctx["sender"].settle_abandoned()
    if _quiet_until(ctx) is not None:
        return 0
    pusher: PolicyPush = ctx["policy_notices"]
    queue: ArqRedis = ctx["redis"]
    enqueued = 0
    for notice in await asyncio.to_thread(pusher.due, ctx["push_sweep_batch"]):
        job_id = policy_job_id(ctx["redis_key_prefix"], notice.match_id, notice.user_id)
        if await queue.enqueue_job("push_policy_notice", asdict(notice), _job_id=job_id) is not None:
            enqueued += 1
    if enqueued:
        log.info("policy push sweep: %d notice(s) enqueued", enqueued)
    return enqueued
