"""The push sender against the loopback WeChat fake: at most once per key, retries, refusals, the shared rate."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat.client import SharedTokenClient
from bot.channels.wechat.errors import Failure, classify
from bot.push.models import CLAIMED, SENDING, PushRecord
from bot.push.ratelimit import GlobalRateLimit
from bot.push.sender import Outcome, Push, PushSender
from bot.store.models import utcnow
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.push.conftest import REDIS_URL

OPENID = "oPushUser0001"


def text_push(subject: str = "test:1", openid: str = OPENID, text: str = "您好") -> Push:
    return Push(subject, "test", openid, "custom", text=text)


def row(engine: Engine, key: str) -> PushRecord:
    with Session(engine) as session:
        record = session.scalar(select(PushRecord).where(PushRecord.key == key))
        assert record is not None
        return record


async def test_a_key_is_sent_once(engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient) -> None:
    sender = PushSender(engine, official_account=official_account)
    push = text_push()
    assert (await sender.send(push)).outcome is Outcome.SENT
    assert (await sender.send(push)).outcome is Outcome.SKIPPED
    assert [m["content"] for m in fake.sent("custom")] == ["您好"]
    record = row(engine, "test:1:custom")
    assert (record.status, record.attempts, record.sent_at is not None) == ("sent", 1, True)


async def test_concurrent_sends_of_one_key_deliver_once(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient
) -> None:
    sender = PushSender(engine, official_account=official_account)
    results = await asyncio.gather(*(sender.send(text_push()) for _ in range(6)))
    assert sorted(r.outcome.value for r in results) == ["sent"] + ["skipped"] * 5
    assert len(fake.sent("custom")) == 1


async def test_template_and_subscribe_messages(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient, mini_program: SharedTokenClient
) -> None:
    sender = PushSender(engine, official_account=official_account, mini_program=mini_program)
    data = {"keyword1": {"value": "TS20261122-000001"}}
    template = Push("test:2", "test", OPENID, "template", template_id="TPL-ANSWER", data=data, link="https://example.gov.cn/x")
    subscribe = Push("test:2", "test", OPENID, "subscribe", template_id="SUB-ANSWER", data=data, link="pages/ticket")
    assert (await sender.send(template)).outcome is Outcome.SENT
    assert (await sender.send(subscribe)).outcome is Outcome.SENT  # another method: another key
    [sent_template] = fake.sent("template")
    assert sent_template["payload"]["template_id"] == "TPL-ANSWER" and sent_template["payload"]["data"] == data
    assert sent_template["payload"]["url"] == "https://example.gov.cn/x"
    [sent_subscribe] = fake.sent("subscribe")
    assert sent_subscribe["payload"]["page"] == "pages/ticket" and sent_subscribe["appid"].startswith("wxmp")


async def test_a_transient_error_is_retried_and_then_sent_once(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient
) -> None:
    sender = PushSender(engine, official_account=official_account)
    fake.fail_next(OPENID, -1)  # WeChat's "system error"
    result = await sender.send(text_push())
    assert (result.outcome, result.errcode) == (Outcome.RETRY, -1)
    assert row(engine, "test:1:custom").status == "retrying"
    assert (await sender.send(text_push())).outcome is Outcome.SENT
    assert len(fake.sent("custom")) == 1 and row(engine, "test:1:custom").attempts == 2


async def test_a_terminal_error_is_recorded_and_never_retried(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient
) -> None:
    sender = PushSender(engine, official_account=official_account)
    fake.fail_next(OPENID, 43004)  # require subscribe: the user unfollowed
    result = await sender.send(text_push())
    assert (result.outcome, result.errcode) == (Outcome.REFUSED, 43004)
    assert (await sender.send(text_push())).outcome is Outcome.SKIPPED
    assert fake.sent("custom") == []
    record = row(engine, "test:1:custom")
    assert (record.status, record.errcode) == ("refused", 43004)


async def test_retries_used_up(engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient) -> None:
    sender = PushSender(engine, official_account=official_account)
    fake.fail_next(OPENID, -1)
    assert (await sender.send(text_push())).outcome is Outcome.RETRY
    sender.give_up("test:1:custom")
    assert (await sender.send(text_push())).outcome is Outcome.SKIPPED
    assert row(engine, "test:1:custom").status == "failed" and fake.sent("custom") == []


async def test_what_a_killed_worker_left_is_sent_again_only_if_the_call_never_started(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient, prefix: str
) -> None:
    past = utcnow() - timedelta(hours=1)
    left = {"test:claimed": CLAIMED, "test:waiting": SENDING, "test:calling": SENDING}
    with Session(engine) as session:  # what killed workers left behind
        for subject, status in left.items():
            session.add(PushRecord(key=f"{subject}:custom", subject=subject, kind="test", user_id=OPENID, method="custom",
                                   status=status, attempts=1, lease_until=past, created_at=past, updated_at=past))
        session.commit()
    limit = GlobalRateLimit(REDIS_URL, "100/second", prefix)
    sender = PushSender(engine, official_account=official_account, rate_limit=limit)
    await limit.redis.set(sender._marker("test:calling:custom"), "1")  # this one had started its call
    assert await sender.settle_abandoned() == (1, 1)
    assert row(engine, "test:waiting:custom").status == "retrying"
    assert row(engine, "test:calling:custom").status == "unknown"
    assert (await sender.send(text_push("test:claimed"))).outcome is Outcome.SENT  # its claim lapsed
    assert (await sender.send(text_push("test:waiting"))).outcome is Outcome.SENT  # never reached WeChat
    assert (await sender.send(text_push("test:calling"))).outcome is Outcome.SKIPPED  # it may have arrived
    assert len(fake.sent("custom")) == 2
    await limit.aclose()


async def test_a_claim_whose_lease_lapsed_does_not_send(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient
) -> None:
    """A slow worker whose claim was taken over meanwhile backs off: the attempt number fences it."""
    sender = PushSender(engine, official_account=official_account)
    first = sender._claim(text_push())
    with Session(engine) as session:
        session.execute(update(PushRecord).values(lease_until=utcnow() - timedelta(seconds=1)))
        session.commit()
    second = sender._claim(text_push())
    assert (first, second) == (1, 2)
    assert not sender._start_sending("test:1:custom", 1)
    assert sender._start_sending("test:1:custom", 2)


def test_what_a_failure_means() -> None:
    def wrapped(http: Exception) -> WeChatClientException:
        try:
            raise WeChatClientException(None, None) from http
        except WeChatClientException as exc:
            return exc

    assert classify(WeChatClientException(45015, "out of time")) is Failure.TERMINAL
    assert classify(WeChatClientException(-1, "system error")) is Failure.TRANSIENT
    assert classify(wrapped(requests.ConnectionError("refused"))) is Failure.TRANSIENT  # never reached WeChat
    assert classify(wrapped(requests.ReadTimeout("slow"))) is Failure.UNKNOWN  # may have been delivered
    assert classify(RuntimeError("?")) is Failure.UNKNOWN


class RecordingLimiter:
    """Passes every call to the real limiter and notes when each granted hit began and ended.

    The limiter stamps a grant with the clock at some moment between the two, so these bounds hold
    however late a loaded machine runs a thread; the times WeChat (the fake) saw a message do not.
    """

    def __init__(self, limiter: Any, grants: list[tuple[float, float]]) -> None:
        self.limiter = limiter
        self.grants = grants

    async def hit(self, *args: Any, **kwargs: Any) -> bool:
        began = time.time()
        granted = await self.limiter.hit(*args, **kwargs)
        if granted:
            self.grants.append((began, time.time()))
        return granted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.limiter, name)


def test_the_rate_is_shared_by_every_sender(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient, prefix: str
) -> None:
    """Two workers (threads with their own loop, limiter and client) together take at most 8 slots per 2 seconds."""
    rate, per_worker, window = 8, 12, 2.0
    grants: list[tuple[float, float]] = []  # appended from both threads: list.append is atomic

    def worker(index: int) -> None:
        async def run() -> None:
            limit = GlobalRateLimit(REDIS_URL, f"{rate} per {window:g} seconds", prefix)
            limit.limiter = RecordingLimiter(limit.limiter, grants)  # type: ignore[assignment]
            sender = PushSender(engine, official_account=official_account, rate_limit=limit)
            pushes = [text_push(f"rate:{index}:{i}", f"oRate{index}x{i}") for i in range(per_worker)]
            results = await asyncio.gather(*(sender.send(p) for p in pushes))
            await limit.aclose()
            assert all(r.outcome is Outcome.SENT for r in results)

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(fake.sent("custom")) == len(grants) == 2 * per_worker
    # A window of 2 s holds at most `rate` grants; counted here are the grants known to lie inside it
    # (begun and ended there), so this never fails for a slow machine, only for a limit not shared.
    busiest = max(sum(1 for b, e in grants if start <= b and e < start + window) for start, _ in grants)
    assert busiest <= rate, busiest
    # The 9th grant comes more than a window after the 1st, the 17th more than two: 24 took over 4 s.
    first_began = min(b for b, _ in grants)
    last_ended = max(e for _, e in grants)
    assert last_ended - first_began > 2 * window


@pytest.mark.parametrize("method", ["template", "subscribe"])
async def test_a_method_without_a_client_is_a_configuration_error(engine: Engine, method: str) -> None:
    from bot.push.sender import NotConfigured

    sender = PushSender(engine)
    assert not sender.can_send(method)  # type: ignore[arg-type]
    with pytest.raises(NotConfigured):
        await sender.send(Push("test:3", "test", OPENID, method, template_id="T"))  # type: ignore[arg-type]


async def test_a_send_waits_for_its_slot_only_half_the_call_grace(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient, prefix: str
) -> None:
    """Past the grace a live send would look abandoned and be sent again: it goes back to retrying first."""
    limit = GlobalRateLimit(REDIS_URL, "1 per 10 second", prefix)
    sender = PushSender(engine, official_account=official_account, rate_limit=limit, call_grace_seconds=0.6)
    assert (await sender.send(text_push("slot:1"))).outcome is Outcome.SENT  # takes the one slot
    started = asyncio.get_running_loop().time()
    assert (await sender.send(text_push("slot:2", "oSlotUser2"))).outcome is Outcome.RETRY
    assert asyncio.get_running_loop().time() - started < 0.6
    assert row(engine, "slot:2:custom").status == "retrying" and len(fake.sent("custom")) == 1
    assert not await limit.redis.exists(sender._marker("slot:2:custom"))  # no call was begun
    await limit.clear()
    assert (await sender.send(text_push("slot:2", "oSlotUser2"))).outcome is Outcome.SENT
    await limit.aclose()
