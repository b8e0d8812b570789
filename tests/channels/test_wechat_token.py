"""SharedTokenClient: one access_token in Redis for every process, refreshed by one process at a time.

The processes are real (spawned, each with its own client and Redis connection); WeChat's API is the
loopback FakeWeChatAPI, which issues a new token per fetch and invalidates the previous one at once,
counts fetches and the peak of concurrent ones.
"""

from __future__ import annotations

import multiprocessing
import secrets
import time
from collections.abc import Iterator

import pytest
import redis
import requests

from bot.channels.wechat.client import TOKEN_PREFIX, SharedTokenClient
from tests.channels.token_worker import token_worker
from tests.fakes.wechat_api import FakeWeChatAPI

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "token-test-secret"
PROCESSES = 4
RUN = secrets.token_hex(4)


def _run_processes(appid: str, base_url: str, send_to: str | None = None) -> list[tuple[int, str]]:
    # forkserver: children fork from a clean single-threaded server (this process runs server threads),
    # which has the worker's imports preloaded, so starting them is quick.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.channels.token_worker"])
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    args = (appid, SECRET, base_url, REDIS_URL, barrier, results, send_to)
    processes = [ctx.Process(target=token_worker, args=args) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    errors = [error for _, _, error in outcomes if error]
    assert not errors, errors
    return [(pid, token) for pid, token, _ in outcomes]


@pytest.fixture
def appid() -> Iterator[str]:
    value = f"wxtok{RUN}{secrets.token_hex(3)}"
    yield value
    with redis.Redis.from_url(REDIS_URL) as r:
        for key in r.scan_iter(f"{TOKEN_PREFIX}:{value}*"):
            r.delete(key)


@pytest.fixture
def fake(appid: str) -> Iterator[FakeWeChatAPI]:
    with FakeWeChatAPI({appid: SECRET}, token_delay=0.5) as api:
        yield api


def _client(appid: str, fake: FakeWeChatAPI, timeout: float = 5.0) -> SharedTokenClient:
    return SharedTokenClient(appid, SECRET, fake.url, redis.Redis.from_url(REDIS_URL), timeout=timeout)


def test_processes_asking_at_once_share_one_fetch(appid: str, fake: FakeWeChatAPI) -> None:
    outcomes = _run_processes(appid, fake.url)
    assert len({pid for pid, _ in outcomes}) == PROCESSES
    assert fake.token_fetches(appid) == 1
    assert fake.token_fetch_peak(appid) == 1
    assert {token for _, token in outcomes} == {fake.current_token(appid)}
    # …and it is in Redis for the next process, which fetches nothing.
    assert _client(appid, fake).access_token == fake.current_token(appid)
    assert fake.token_fetches(appid) == 1


def test_processes_sending_at_once_after_expiry_refresh_once(appid: str, fake: FakeWeChatAPI) -> None:
    openid = f"o{RUN}_{secrets.token_hex(4)}"
    first = _client(appid, fake).access_token
    fake.expire_tokens(appid)
    outcomes = _run_processes(appid, fake.url, send_to=openid)
    assert fake.token_fetches(appid) == 2 and fake.token_fetch_peak(appid) == 1
    renewed = fake.current_token(appid)
    assert renewed != first and {token for _, token in outcomes} == {renewed}
    sent = fake.sent("custom")
    assert len(sent) == PROCESSES and {m["access_token"] for m in sent} == {renewed}


def test_expired_token_is_refetched_once_then_the_send_succeeds(appid: str, fake: FakeWeChatAPI) -> None:
    client = _client(appid, fake)
    openid = f"o{RUN}_{secrets.token_hex(4)}"
    client.message.send_text(openid, "第一条")
    assert fake.token_fetches(appid) == 1
    old = fake.current_token(appid)
    fake.expire_tokens(appid)
    client.message.send_text(openid, "第二条")
    assert fake.token_fetches(appid) == 2
    sends = [(c["errcode"]) for c in fake.calls() if c["path"] == "/cgi-bin/message/custom/send"]
    assert sends == [0, 42001, 0]
    new = fake.current_token(appid)
    assert new != old
    assert [(m["content"], m["access_token"]) for m in fake.sent("custom")] == [("第一条", old), ("第二条", new)]
    with redis.Redis.from_url(REDIS_URL) as r:
        assert r.get(f"{TOKEN_PREFIX}:{appid}_access_token") is not None
    assert client.session.get(client.access_token_key) == new


def test_a_request_in_flight_during_another_process_refresh_does_not_refresh_again(appid: str, fake: FakeWeChatAPI) -> None:
    """Process B read the token just before process A refreshed it; WeChat refuses B's request (40001).
    B must take A's new token, not fetch yet another one (which would invalidate A's in turn)."""
    a, b = _client(appid, fake), _client(appid, fake)
    stale = a.access_token
    assert b.access_token == stale and fake.token_fetches(appid) == 1
    fake.expire_tokens(appid)
    a.message.send_text("o_a", "A 刷新了 token")  # 42001 → A refreshes
    assert fake.token_fetches(appid) == 2
    fresh = fake.current_token(appid)
    # B's request, carrying the token it read before A's refresh, arrives now.
    b.post("message/custom/send", params={"access_token": stale},
           data={"touser": "o_b", "msgtype": "text", "text": {"content": "B 的消息"}})
    assert fake.token_fetches(appid) == 2
    assert fake.current_token(appid) == fresh
    assert [m["access_token"] for m in fake.sent("custom")] == [fresh, fresh]
    a.message.send_text("o_a", "A 的 token 依然有效")
    assert fake.token_fetches(appid) == 2


def test_a_hung_token_endpoint_times_out(appid: str) -> None:
    """WeChat not answering the token request must not hang the caller (and hold the refresh lock) for ever."""
    with FakeWeChatAPI({appid: SECRET}, token_delay=1.5) as slow:
        client = _client(appid, slow, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            client.access_token  # noqa: B018
        assert time.monotonic() - started < 1.0
        # The lock is released: another client can fetch at once.
        with redis.Redis.from_url(REDIS_URL) as r:
            assert not r.exists(f"{TOKEN_PREFIX}:{appid}:refresh")
