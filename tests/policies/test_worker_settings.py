"""The nightly matching job's own limits in the worker (bot/worker.py)."""

from __future__ import annotations

import pytest
from arq.cron import CronJob
from arq.worker import Function

from bot.config import get_settings
from bot.worker import match_policies, worker_settings


def test_matching_has_its_own_timeout_and_is_never_run_twice_by_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("POLICY_MATCH_TIMEOUT_SECONDS", "5400")
    monkeypatch.setenv("PUSH_JOB_TIMEOUT_SECONDS", "300")
    get_settings.cache_clear()
    try:
        settings = worker_settings()
    finally:
        get_settings.cache_clear()
    [function] = [f for f in settings["functions"] if isinstance(f, Function) and f.coroutine is match_policies]
    [nightly] = [c for c in settings["cron_jobs"] if isinstance(c, CronJob) and c.coroutine is match_policies]
    for job in (function, nightly):
        assert job.timeout_s == 5400 and job.max_tries == 1
    assert settings["job_timeout"] == 300  # the pushes keep theirs
