"""The background worker: arq, a real Redis job queue, for scheduled sweeps and push sending.

`python -m bot worker` runs it; `make run` starts one beside the bot. The cron jobs are `unique`,
so several workers (one per machine) still run each sweep once per slot.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from arq import ArqRedis, cron, func
from arq.connections import RedisSettings
from redis.asyncio import ConnectionPool

from bot.complaints.calendar import beijing_today
from bot.complaints.service import escalate_overdue_job
from bot.config import Settings, get_settings
from bot.push import jobs as push_jobs
from bot.store.db import make_engine, normalize_url, upgrade_database

log = logging.getLogger(__name__)

SWEEP_MINUTES = set(range(0, 60, 10))  # 督办 sweep every ten minutes
POLICY_MATCH_HOUR = 3  # 免申即享 matching run at 03:00 worker time (arq's cron), after the nightly data refresh
PUSH_SWEEP_SECOND = 30  # the push sweep: every minute, at this second
POLICY_PUSH_SWEEP_SECOND = 45  # the policy notices' sweep: every minute, apart from the answers'


def queue_name(prefix: str) -> str:
    return f"{prefix}:jobs"


def open_queue(settings: Settings) -> ArqRedis:
    """A client for enqueuing jobs onto this deployment's queue (REDIS_URL must be set).

    It connects on first use, not here: the bot must start, and answer, while Redis is down.
    """
    assert settings.redis_url is not None
    return ArqRedis(ConnectionPool.from_url(settings.redis_url), default_queue_name=queue_name(settings.redis_key_prefix))


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    await asyncio.to_thread(upgrade_database, settings.database_url)
    # The jobs' database work runs in asyncio's default executor: a thread for every job that may be
    # in the database at once (Python's default is cores + 4). Measured on 2 cores with PostgreSQL
    # (bench/push_throughput.py, no rate limit): 10 jobs 23 sends/s, 50 jobs with a thread each 50/s.
    threads = settings.worker_max_jobs + 4
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads, thread_name_prefix="worker-db"))
    ctx["engine"] = make_engine(settings.database_url, **_pool(settings.database_url, threads))
    ctx.update(push_jobs.build(settings, ctx["engine"]))


def _pool(url: str, threads: int) -> dict[str, int]:
    """A pooled connection for every thread that may hold one: SQLAlchemy's default pool of 5 left
    the rest as overflow connections, opened and closed per use (a new PostgreSQL backend each)."""
    if normalize_url(url).get_backend_name() != "postgresql":
        return {}
    return {"pool_size": threads, "max_overflow": 10}


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["answers"].redis.aclose()
    if ctx["sender"].rate_limit is not None:
        await ctx["sender"].rate_limit.aclose()
    ctx["engine"].dispose()


async def sweep_overdue(ctx: dict[str, Any]) -> list[str]:
    """督办: escalate every ticket past its deadline (recorded as an event on the ticket)."""
    escalated = await asyncio.to_thread(escalate_overdue_job, ctx["engine"])
    if escalated:
        log.warning("督办: %d overdue ticket(s) escalated: %s", len(escalated), ", ".join(escalated))
    return escalated


async def match_policies(ctx: dict[str, Any]) -> list[str]:
    """免申即享 系统智审, every night: one ``match_policy`` job per policy in force.

    Not one job for all: at 1,000,000 enterprises the whole run took 276 s on PostgreSQL, near the
    worker's job timeout (bench/README.md), while the slowest single policy took 73 s. A longer
    timeout for this one job is no way out: arq keeps every job of a dead worker waiting for the
    longest timeout of any, and the pushes must come back within minutes.
    """
    today = beijing_today()
    ids = [p.id for p in ctx["policies"].get().in_force(today)]
    for policy_id in ids:
        # The id holds the day: a second cron fire (another worker) queues nothing twice.
        await ctx["redis"].enqueue_job(
            "match_policy", policy_id, today.isoformat(), _job_id=f"{ctx['redis_key_prefix']}:match:{today}:{policy_id}"
        )
    return ids


async def match_policy(ctx: dict[str, Any], policy_id: str, as_of: str) -> dict[str, int]:
    """Match one policy against the 企业画像库 (new matches get notified)."""
    from bot.policies.matching import run_matching

    catalog = ctx["policies"].get()  # the files with the versions published in the guide editor over them
    result = await asyncio.to_thread(run_matching, ctx["engine"], catalog, date.fromisoformat(as_of), "cron", [policy_id])
    log.info("policy matching run %d (%s): %d new matches", result.run_id, policy_id, result.new)
    # Tell the new matches now rather than at the next minute's sweep.
    await ctx["redis"].enqueue_job("push_policy_notices")
    return {p.policy_id: p.new for p in result.policies}


def worker_settings() -> dict[str, Any]:
    """arq's settings, from the environment (REDIS_URL is required: the queue lives there)."""
    settings = get_settings()
    if not settings.redis_url:
        raise RuntimeError("the worker needs REDIS_URL: its job queue is in Redis")
    return {
        "functions": [
            sweep_overdue, push_jobs.push_answer, push_jobs.push_due, match_policies, push_jobs.push_policy_notices,
            # Never retried: a job that timed out leaves its thread running, and a retry would match beside it.
            func(match_policy, max_tries=1),
            # No result kept: the job id only guards a notice while queued or running (the push log
            # keeps it at most once), so a notice that waited out the quiet hours can be queued again.
            func(push_jobs.push_policy_notice, keep_result=0),
        ],
        "cron_jobs": [
            cron(sweep_overdue, minute=SWEEP_MINUTES, unique=True, run_at_startup=True),
            # 免申即享: a full matching run every night, after the shared data's nightly refresh
            cron(match_policies, hour={POLICY_MATCH_HOUR}, minute={0}, unique=True),
            cron(push_jobs.push_due, second=PUSH_SWEEP_SECOND, unique=True, run_at_startup=True),
            cron(push_jobs.push_policy_notices, second=POLICY_PUSH_SWEEP_SECOND, unique=True, run_at_startup=True),
        ],
        "max_tries": settings.push_max_tries,
        "max_jobs": settings.worker_max_jobs,
        # A job held longer than this (plus arq's 10 s) by a worker that died is run again by another.
        "job_timeout": settings.push_job_timeout_seconds,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": queue_name(settings.redis_key_prefix),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "handle_signals": True,
    }
