"""免申即享 notices sent by real worker processes (`python -m bot worker`) against the loopback WeChat fake.

- A worker is SIGKILLed mid-batch and another takes over: no (policy, enterprise, user) gets a second
  message, and every push not recorded ``unknown`` (the call was under way when the worker died)
  got exactly one.
- Two workers share one send rate: WeChat never sees more than the configured rate.

PostgreSQL, where several workers belong (SQLite's single writer is for one machine).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.channels.wechat.client import SharedTokenClient
from bot.config import ROOT
from bot.policies.models import PolicyMatch, PolicyNotification
from bot.worker import queue_name
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.push.conftest import MP_APP, OA_APP, REDIS_URL, SECRET
from tests.push.policy_fixtures import CATALOG, matched_enterprises, push_rows

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)

PAGE = "pages/policies/detail"


@pytest.fixture
def workers(
    engine: Engine, fake: FakeWeChatAPI, prefix: str, tmp_path: Path,
    official_account: SharedTokenClient, mini_program: SharedTokenClient,
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts worker processes on this test's database, Redis prefix and fake; all stopped at the end."""
    # Warm tokens, as a running deployment has: a first send must not wait for one (it would bunch the
    # calls granted meanwhile and blur the rate seen at the fake).
    official_account.fetch_access_token()
    mini_program.fetch_access_token()
    started: list[subprocess.Popen[bytes]] = []
    base = {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False), "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix,
        "WECHAT_APP_ID": OA_APP, "WECHAT_APP_SECRET": SECRET, "MP_APP_ID": MP_APP, "MP_APP_SECRET": SECRET,
        "SESSION_SECRET": "test-session-secret", "WECHAT_API_BASE_URL": fake.url,
        "WECHAT_TEMPLATE_POLICY_NOTICE": "TPL-POLICY", "MP_TEMPLATE_POLICY_NOTICE": "SUB-POLICY", "MP_POLICY_PAGE": PAGE,
        # Short enough for the test to see a dead worker's jobs taken over. The call grace must exceed
        # any live wait for a rate slot, as the settings require: 10 jobs at 5 a second wait 2 s on
        # average, but slots are not handed out in turn (bench/README.md: p99 about 4x the mean).
        "PUSH_JOB_TIMEOUT_SECONDS": "10", "PUSH_LEASE_SECONDS": "10", "PUSH_CALL_GRACE_SECONDS": "30",
        "PUSH_QUIET_HOURS": "", "WORKER_MAX_JOBS": "10",
    }

    def start(rate: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "MP_", "PUSH_", "WORKER_"))}
        env.update(base, PUSH_RATE_LIMIT=rate)
        log = (tmp_path / f"worker{len(started)}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
def arq_keys_cleaned(prefix: str) -> Iterator[None]:
    yield
    import redis

    with redis.Redis.from_url(REDIS_URL) as r:  # arq's keys for this test's jobs are outside the prefix
        for pattern in (f"arq:job:{prefix}:*", f"arq:result:{prefix}:*", f"arq:in-progress:{prefix}:*",
                        f"arq:retry:{prefix}:*"):
            for key in r.scan_iter(pattern):
                r.delete(key)


def policy_messages(fake: FakeWeChatAPI) -> list[dict[str, Any]]:
    return [m for m in fake.sent() if m["kind"] in ("template", "subscribe")]


def message_key(message: dict[str, Any], titles: dict[str, int]) -> tuple[str, int]:
    """(user, match) of a message at the fake: the subscribe message's page names the match; a
    template message names the policy, and each test user is bound to one enterprise."""
    payload = message["payload"]
    if message["kind"] == "subscribe":
        return message["touser"], int(payload["page"].rsplit("match_id=", 1)[1])
    return message["touser"], titles[f"{message['touser']}|{payload['data']['keyword2']['value']}"]


def match_titles(engine: Engine) -> dict[str, int]:
    """"user|policy title" → match id, for the template messages."""
    from bot.policies.models import Binding

    with Session(engine) as session:
        rows = session.execute(select(Binding.user_id, PolicyMatch.policy_id, PolicyMatch.id)
                               .join(PolicyMatch, PolicyMatch.enterprise_id == Binding.enterprise_id)).all()
    return {f"{user}|{CATALOG.policies[policy].title}": match for user, policy, match in rows}


def notified_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PolicyNotification)) or 0


def wait(predicate: Callable[[], bool], timeout: float, what: str, every: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        if every is not None:
            every()
        time.sleep(0.1)


@pytest.mark.usefixtures("arq_keys_cleaned")
def test_a_worker_killed_mid_batch_sends_nothing_twice(
    engine: Engine, fake: FakeWeChatAPI, workers: Callable[..., subprocess.Popen[bytes]], prefix: str,
) -> None:
    matched_enterprises(engine, 10)
    total = len(match_titles(engine))
    assert total >= 50  # about 60 notices, half to the official account, half to the mini-program
    # 5 a second while a worker runs 10 jobs at a time: at any moment some wait for a slot ("sending",
    # no call yet) and one or two are in their call.
    first = workers("5/second")
    wait(lambda: len(policy_messages(fake)) >= 15, 90, "the first worker sent nothing")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    at_kill = len(policy_messages(fake))
    assert at_kill < total, "the batch was over before the kill"
    workers("5/second")

    async def sweep() -> None:  # what the cron job does every minute, sooner
        pool = await create_pool(RedisSettings.from_dsn(REDIS_URL), default_queue_name=queue_name(prefix))
        await pool.enqueue_job("push_policy_notices")
        await pool.aclose()

    last = [time.monotonic()]

    def sweep_now_and_then() -> None:
        if time.monotonic() - last[0] > 3:
            asyncio.run(sweep())
            last[0] = time.monotonic()

    # The dead worker's jobs come back when arq's in-progress keys lapse (10 + 10 s); its "sending"
    # rows are settled after the call grace (30 s): sent again, or "unknown" when the call had begun.
    wait(lambda: notified_count(engine) == total, 120, "not every notice was settled", sweep_now_and_then)

    titles = match_titles(engine)
    counts = Counter(message_key(m, titles) for m in policy_messages(fake))
    assert max(counts.values()) == 1, [k for k, c in counts.items() if c > 1]
    rows = push_rows(engine)
    assert len(rows) == total and {r.status for r in rows} <= {"sent", "unknown"}
    pushed = {(r.subject.split(":", 2)[2], int(r.subject.split(":", 2)[1])): r.status for r in rows}
    assert set(counts) <= set(pushed)  # nothing reached WeChat without its row
    for key, status in pushed.items():
        assert counts[key] == 1 if status == "sent" else counts[key] <= 1, (key, status, counts[key])
    # unknown: only a call under way when the worker died (a few at 5 a second)
    assert sum(1 for s in pushed.values() if s == "unknown") <= 10
    # The kill did leave work behind: sends claimed again (no call had begun) or settled as unknown.
    assert any(r.attempts > 1 or r.status == "unknown" for r in rows)


@pytest.mark.usefixtures("arq_keys_cleaned")
def test_two_workers_share_the_send_rate(
    engine: Engine, fake: FakeWeChatAPI, workers: Callable[..., subprocess.Popen[bytes]], tmp_path: Path,
) -> None:
    rate, window = 10, 1.0
    matched_enterprises(engine, 7)
    total = len(match_titles(engine))
    for _ in range(2):
        workers(f"{rate}/second")
    wait(lambda: len(policy_messages(fake)) >= total, 120, "the batch was not sent")
    times = sorted(m["time"] for m in policy_messages(fake))
    assert len(times) == total
    # As in test_sender: within any window less twice the jitter between a granted slot and the fake's
    # clock (0.1 s), WeChat saw at most `rate` messages ...
    seen = window - 0.2
    busiest = max(sum(1 for t in times if start <= t < start + seen) for start in times)
    assert busiest <= rate, busiest
    # ... so the batch took at least as many full windows as it holds rates, less one.
    assert times[-1] - times[0] >= (total // rate - 1) * seen
    logs = [p.read_text(errors="replace") for p in sorted(tmp_path.glob("worker*.log"))]
    assert all("push_policy_notice(" in log for log in logs), "both workers should have sent"
