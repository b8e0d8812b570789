"""免申即享 notices pushed through the push sender against the loopback WeChat fake (in-process).

The same jobs in real worker processes, killed mid-batch and sharing the rate: test_policy_push_workers.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
from arq import ArqRedis, Retry, create_pool
from arq.connections import RedisSettings
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.channels.wechat.client import SharedTokenClient
from bot.complaints.calendar import beijing_today
from bot.guides import versions
from bot.guides.versions import DatabaseSource, DocRef, Editor
from bot.policies.catalog import PolicyStore
from bot.policies.matching import run_matching
from bot.policies.models import PolicyNotification
from bot.push import jobs
from bot.push.policies import PolicyPush, PolicyPushSettings, subject
from bot.push.quiet import BEIJING, QuietHours
from bot.push.sender import PushSender
from bot.push.wording import PushWording
from bot.store.models import utcnow
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.push.conftest import REDIS_URL
from tests.push.policy_fixtures import CATALOG, GUIDES, TODAY, bind, matched_enterprises, push_rows

TEMPLATES = GUIDES / "templates" / "wechat"
SETTINGS = PolicyPushSettings(template_id="TPL-POLICY", subscribe_template_id="SUB-POLICY",
                              subscribe_page="pages/policies/detail")
WX, MP = "oPolicy0001", "oPolicy0002"  # matched_enterprises binds odd numbers to the official account


def policy_push(engine: Engine, sender: PushSender, settings: PolicyPushSettings = SETTINGS, catalog: Any = None) -> PolicyPush:
    return PolicyPush(engine, sender, catalog or (lambda: CATALOG), PushWording(TEMPLATES), settings, lambda: TODAY)


@pytest.fixture
def pusher(engine: Engine, official_account: SharedTokenClient, mini_program: SharedTokenClient) -> PolicyPush:
    return policy_push(engine, PushSender(engine, official_account=official_account, mini_program=mini_program))


@pytest.fixture
async def queue(prefix: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL), default_queue_name=f"{prefix}:jobs")
    yield pool
    for pattern in (f"arq:job:{prefix}:*", f"arq:result:{prefix}:*"):  # arq's own keys for this test's jobs
        async for key in pool.scan_iter(pattern):
            await pool.delete(key)
    await pool.aclose()


def notified(engine: Engine) -> set[tuple[int, str]]:
    with Session(engine) as session:
        return {(m, u) for m, u in session.execute(select(PolicyNotification.match_id, PolicyNotification.user_id))}


def fields(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["value"] for name, value in message["payload"]["data"].items()}


async def test_each_channel_is_told_why_once(engine: Engine, fake: FakeWeChatAPI, pusher: PolicyPush) -> None:
    matched_enterprises(engine, 2)
    due = pusher.due(100)
    assert {n.user_id for n in due} == {WX, MP}
    assert [await pusher.deliver(n) for n in due] == ["sent"] * len(due)

    wengang = next(n for n in due if n.user_id == WX and n.policy_id == "wengang_fanhuan")
    template = next(m for m in fake.sent("template") if fields(m)["keyword2"] == "失业保险稳岗返还")
    assert template["touser"] == WX and template["payload"]["template_id"] == "TPL-POLICY"
    first = fields(template)["first"]
    assert first.startswith("您的企业可享受“失业保险稳岗返还”，因为足额缴纳失业保险满12个月") and wengang.why[0] in first
    assert fields(template)["keyword1"] == "河南测试0001有限公司"

    subscribes = fake.sent("subscribe")
    assert {m["touser"] for m in subscribes} == {MP} and len(subscribes) == len([n for n in due if n.user_id == MP])
    for message in subscribes:
        values = fields(message)
        assert all(len(v) <= 20 for k, v in values.items() if k.startswith("thing")), values  # WeChat's limit
        assert values["thing3"].startswith("因为") and message["payload"]["page"].startswith("pages/policies/detail?match_id=")

    assert notified(engine) == {(n.match_id, n.user_id) for n in due} and pusher.due(100) == []
    before = len(fake.sent())
    assert await pusher.deliver(wengang) == "done"  # queued twice: the push log has it, nothing goes out
    assert len(fake.sent()) == before


async def test_refused_is_recorded_and_never_sent_again(engine: Engine, fake: FakeWeChatAPI, pusher: PolicyPush) -> None:
    matched_enterprises(engine, 1)
    notice, *others = pusher.due(100)
    fake.fail_next(WX, 43004, kind="template")  # the user unfollowed the official account
    assert await pusher.deliver(notice) == "refused"
    [row] = [r for r in push_rows(engine) if r.subject == subject(notice.match_id, WX)]
    assert (row.status, row.errcode) == ("refused", 43004)
    assert notice not in pusher.due(100) and len(pusher.due(100)) == len(others)  # the sweep leaves it alone
    assert await pusher.deliver(notice) == "refused"  # even if it came round again
    assert fake.sent("template") == [] and (notice.match_id, WX) not in notified(engine)


async def test_a_transient_error_is_retried_with_backoff_then_given_up(
    engine: Engine, fake: FakeWeChatAPI, pusher: PolicyPush
) -> None:
    matched_enterprises(engine, 1)
    first, second, *_ = pusher.due(100)
    ctx: dict[str, Any] = {"policy_notices": pusher, "push_max_tries": 3}
    fake.fail_next(WX, -1)
    with pytest.raises(Retry) as retry:
        await jobs.push_policy_notice({**ctx, "job_try": 1}, asdict(first))
    assert retry.value.defer_score == jobs.backoff(1) * 1000 and fake.sent() == []
    assert await jobs.push_policy_notice({**ctx, "job_try": 2}, asdict(first)) == "sent"
    assert len(fake.sent("template")) == 1

    fake.fail_next(WX, -1, times=3)
    for job_try in (1, 2):
        with pytest.raises(Retry):
            await jobs.push_policy_notice({**ctx, "job_try": job_try}, asdict(second))
    assert await jobs.push_policy_notice({**ctx, "job_try": 3}, asdict(second)) == "failed"
    assert [r.status for r in push_rows(engine) if r.subject == subject(second.match_id, WX)] == ["failed"]
    assert second not in pusher.due(100) and len(fake.sent("template")) == 1


async def test_quiet_hours_hold_the_notices_and_the_sweep(
    engine: Engine, fake: FakeWeChatAPI, pusher: PolicyPush, queue: ArqRedis
) -> None:
    matched_enterprises(engine, 1)
    now = utcnow().astimezone(BEIJING)
    around_now = QuietHours((now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time())
    ctx = {"policy_notices": pusher, "push_max_tries": 3, "quiet": around_now, "sender": pusher.sender,
           "redis": queue, "push_sweep_batch": 100, "redis_key_prefix": "unused"}
    assert await jobs.push_policy_notice(ctx, asdict(pusher.due(1)[0])) == "quiet"
    assert await jobs.push_policy_notices(ctx) == 0
    assert fake.sent() == [] and await queue.queued_jobs() == []


async def test_the_sweep_enqueues_one_job_per_match_and_user(
    engine: Engine, fake: FakeWeChatAPI, pusher: PolicyPush, queue: ArqRedis, prefix: str
) -> None:
    matched_enterprises(engine, 2)
    ctx = {"policy_notices": pusher, "sender": pusher.sender, "redis": queue, "push_sweep_batch": 100,
           "redis_key_prefix": prefix}
    due = pusher.due(100)
    assert await jobs.push_policy_notices(ctx) == len(due) > 2
    assert await jobs.push_policy_notices(ctx) == 0  # queued already: the job id is the subject
    queued = await queue.queued_jobs()
    assert sorted(j.job_id or "" for j in queued) == sorted(f"{prefix}:{subject(n.match_id, n.user_id)}" for n in due)
    assert all(j.function == "push_policy_notice" for j in queued)
    assert fake.sent() == []


async def test_a_channel_without_a_template_is_neither_sent_nor_marked(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient, mini_program: SharedTokenClient
) -> None:
    matched_enterprises(engine, 2)
    sender = PushSender(engine, official_account=official_account, mini_program=mini_program)
    no_subscribe = policy_push(engine, sender, PolicyPushSettings(template_id="TPL-POLICY", subscribe_template_id=None))
    assert {n.user_id for n in no_subscribe.due(100)} == {WX}  # the sweep leaves the mini-program's users waiting
    mp_notice = next(n for n in policy_push(engine, sender).due(100) if n.user_id == MP)
    assert await no_subscribe.deliver(mp_notice) == "unconfigured"
    nothing = policy_push(engine, sender, PolicyPushSettings(template_id=None, subscribe_template_id=None))
    assert nothing.due(100) == []
    assert fake.sent() == [] and push_rows(engine) == [] and notified(engine) == set()


async def test_a_policy_published_in_the_editor_is_matched_and_pushed_without_a_restart(
    engine: Engine, fake: FakeWeChatAPI, official_account: SharedTokenClient
) -> None:
    interval = 0.5
    store = PolicyStore(GUIDES, interval, DatabaseSource(lambda: engine))
    assert store.get().get("wengang_fanhuan_2027") is None
    code = matched_enterprises(engine, 1)[0]
    text = (GUIDES / "policies" / "wengang_fanhuan.yml").read_text(encoding="utf-8")
    new = text.replace("id: wengang_fanhuan\n", "id: wengang_fanhuan_2027\n").replace(
        "title: 失业保险稳岗返还\n", "title: 失业保险稳岗返还（2027年度）\n")
    ref, editor = DocRef("policy", "wengang_fanhuan_2027"), Editor("editor1", "河南省人力资源和社会保障厅")
    with Session(engine) as session:  # what the guide editor's publish does
        versions.save_draft(session, ref, new, editor, GUIDES)
        versions.publish(session, ref, editor, GUIDES, "新增2027年度稳岗返还")
        session.commit()
    deadline = time.monotonic() + interval + 5
    while store.get().get("wengang_fanhuan_2027") is None:
        assert time.monotonic() < deadline, "the published policy did not reach the store"
        time.sleep(0.05)
    run_matching(engine, store.get(), TODAY, "test")
    pusher = policy_push(engine, PushSender(engine, official_account=official_account), catalog=store.get)
    [notice] = [n for n in pusher.due(100) if n.policy_id == "wengang_fanhuan_2027"]
    assert (notice.uscc, notice.user_id) == (code, WX)
    assert await pusher.deliver(notice) == "sent"
    assert [fields(m)["keyword2"] for m in fake.sent("template")] == ["失业保险稳岗返还（2027年度）"]


async def test_bound_later_is_told_too(engine: Engine, fake: FakeWeChatAPI, pusher: PolicyPush) -> None:
    code = matched_enterprises(engine, 1)[0]
    for notice in pusher.due(100):
        await pusher.deliver(notice)
    bind(engine, code, "oPolicyLater", "wechat")
    later = pusher.due(100)
    assert later and {n.user_id for n in later} == {"oPolicyLater"}


async def test_the_nightly_run_queues_one_matching_job_per_policy_in_force(queue: ArqRedis, prefix: str) -> None:
    from bot.worker import match_policies

    ctx = {"policies": PolicyStore(GUIDES, 3600), "redis": queue, "redis_key_prefix": prefix}
    ids = await match_policies(ctx)
    assert ids == [p.id for p in CATALOG.in_force(beijing_today())]  # the windows are Beijing dates
    assert await match_policies(ctx) == ids  # a second fire of the cron: the same ids, queued once
    jobs = await queue.queued_jobs()
    assert sorted(j.args[0] for j in jobs) == sorted(ids) and {j.function for j in jobs} <= {"match_policy"}
    assert all(j.job_id.startswith(f"{prefix}:match:") for j in jobs)


async def test_a_matching_job_is_followed_by_the_sweep(engine: Engine, queue: ArqRedis) -> None:
    from bot.worker import match_policy

    matched_enterprises(engine, 1)
    ctx = {"engine": engine, "policies": PolicyStore(GUIDES, 3600), "redis": queue}
    # matched already: nothing new, the sweep still runs
    assert await match_policy(ctx, "wengang_fanhuan", TODAY.isoformat()) == {"wengang_fanhuan": 0}
    [job] = await queue.queued_jobs()
    await queue.delete(f"arq:job:{job.job_id}")  # its id is arq's own, outside this test's prefix
    assert job.function == "push_policy_notices"
