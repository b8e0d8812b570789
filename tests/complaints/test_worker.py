"""The 督办 sweep through the real job queue: enqueued in Redis, run by an arq worker, recorded on the ticket."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy.orm import Session

from bot.complaints import service
from bot.complaints.rules import Rules
from bot.complaints.service import Submission
from bot.config import get_settings
from bot.store.db import make_engine, upgrade_database
from bot.worker import queue_name, sweep_overdue, worker_settings

REDIS_URL = "redis://127.0.0.1:6379/0"
ACCEPTED = datetime(2020, 1, 6, 2, 0, tzinfo=UTC)  # long past: the ticket's deadline is overdue today


async def test_the_worker_escalates_an_overdue_ticket(tmp_path: Path, rules: Rules, monkeypatch: pytest.MonkeyPatch) -> None:
    database_url = f"sqlite:///{tmp_path}/worker.db"
    prefix = "test-worker-" + secrets.token_hex(4)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    get_settings.cache_clear()
    upgrade_database(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        ticket, _ = service.create_ticket(
            session, Submission(user_id="oWORKER", channel="wechat", idempotency_key="w-1", text="办证推来推去一个月了"),
            rules=rules, now=ACCEPTED,
        )
        session.commit()
        number = ticket.no

    settings = worker_settings()
    assert settings["queue_name"] == queue_name(prefix)
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL), default_queue_name=settings["queue_name"])
    worker = Worker(**{**settings, "cron_jobs": [], "handle_signals": False}, burst=True, poll_delay=0.05)
    job_keys: list[str] = []
    try:
        job = await pool.enqueue_job(sweep_overdue.__name__)
        assert job is not None
        job_keys = [f"arq:{kind}:{job.job_id}" for kind in ("job", "result", "retry", "in-progress")]
        await worker.main()
        assert await job.result(timeout=10) == [number]
    finally:
        await worker.close()
        await pool.aclose()
        get_settings.cache_clear()
        with redis.Redis.from_url(REDIS_URL) as r:
            for key in [*r.scan_iter(f"{prefix}*"), *job_keys]:
                r.delete(key)

    with Session(engine) as session:
        ticket = service.get_ticket(session, number)
        assert ticket is not None
        assert [e.kind for e in service.history(session, ticket)][-1] == "escalated"
    engine.dispose()


def test_the_worker_refuses_to_start_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="REDIS_URL"):
            worker_settings()
    finally:
        get_settings.cache_clear()
