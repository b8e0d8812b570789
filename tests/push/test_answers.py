"""Complaint answers pushed to WeChat users: 客服消息 inside 48 hours, else template / subscribe messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.channels.wechat.client import SharedTokenClient
from bot.channels.wechat.keys import choices_key, last_inbound_key
from bot.channels.wechat.render import WeChatRenderer
from bot.complaints import service
from bot.complaints.models import RATINGS
from bot.complaints.notifications import CitizenNotification, answer_messages
from bot.complaints.rules import Rules
from bot.config import ROOT
from bot.guides.catalog import build_catalog
from bot.guides.dialogue import payload
from bot.push.answers import AnswerPush, AnswerPushSettings, due_answers
from bot.push.sender import PushSender
from bot.push.wording import PushWording
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.push.conftest import REDIS_URL

TEMPLATES = ROOT / "guides" / "templates" / "wechat"
POLICE = "县公安局"
STAFF = service.Actor("staff", "police", POLICE)
OPENID = "oAnswerUser01"
WORDING = build_catalog(ROOT / "guides").wording


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def pusher(
    engine: Engine, official_account: SharedTokenClient, mini_program: SharedTokenClient,
    redis_client: aioredis.Redis, prefix: str,
) -> AnswerPush:
    sender = PushSender(engine, official_account=official_account, mini_program=mini_program)
    return AnswerPush(
        engine, sender, redis_client, WeChatRenderer(TEMPLATES, "https://yishiban.example.gov.cn"), lambda: WORDING,
        PushWording(TEMPLATES),
        AnswerPushSettings(wx_prefix=f"{prefix}:wx", template_id="TPL-ANSWER", subscribe_template_id="SUB-ANSWER",
                           subscribe_page="pages/complaints/index"),
    )


def answered(engine: Engine, rules: Rules, channel: str, answer: str = "已协调窗口，明天上午可直接办理") -> tuple[str, int]:
    """A ticket from ``channel`` answered by the police: (its number, its notification's id)."""
    with Session(engine) as session:
        submission = service.Submission(user_id=OPENID, channel=channel, idempotency_key=f"k-{channel}",
                                        text="派出所办户口跑了三趟都没办成")
        ticket, _ = service.create_ticket(session, submission, rules=rules)
        service.transfer(session, ticket, service.Actor("staff", "admin", "12345热线", admin=True), [POLICE])
        service.answer(session, ticket, answer, STAFF)
        session.commit()
        note_id = session.scalar(select(CitizenNotification.id).where(CitizenNotification.ticket_id == ticket.id))
        assert note_id is not None
        return ticket.no, note_id


def note_state(engine: Engine, note_id: int) -> tuple[str, str | None]:
    with Session(engine) as session:
        note = session.get(CitizenNotification, note_id)
        assert note is not None
        return note.status, note.delivered_via


async def test_inside_the_window_a_customer_service_message_with_numbered_ratings(
    engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush, redis_client: aioredis.Redis, prefix: str
) -> None:
    no, note_id = answered(engine, rules, "wechat")
    assert due_answers(engine) == [note_id]
    await redis_client.set(last_inbound_key(f"{prefix}:wx", OPENID), "1")  # the user wrote an hour ago
    assert await pusher.deliver(note_id) == "sent"
    [message] = fake.sent("custom")
    assert message["touser"] == OPENID
    assert message["content"].startswith(f"您的投诉 {no} 已有答复：已协调窗口，明天上午可直接办理")
    assert all(f"{i}. {rating}" in message["content"] for i, rating in enumerate(RATINGS, 1))
    # Replying “2” now rates 满意 (the official account maps the number to this payload).
    stored = json.loads(await redis_client.get(choices_key(f"{prefix}:wx", OPENID)))
    assert stored[1] == payload("rate_ticket", ticket_no=no, rating="满意")
    assert note_state(engine, note_id) == ("delivered", "wechat_custom")
    assert due_answers(engine) == [] and await pusher.deliver(note_id) == "done"  # once
    assert len(fake.sent()) == 1


async def test_outside_the_window_a_template_message(
    engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush
) -> None:
    no, note_id = answered(engine, rules, "wechat")
    assert await pusher.deliver(note_id) == "sent"
    assert fake.sent("custom") == []
    [message] = fake.sent("template")
    data = message["payload"]["data"]
    assert message["payload"]["template_id"] == "TPL-ANSWER"
    assert data["first"]["value"] == "您的投诉已有答复" and data["keyword1"]["value"] == no
    assert data["keyword2"]["value"] == POLICE and data["keyword3"]["value"].startswith("已协调窗口")
    assert note_state(engine, note_id) == ("delivered", "wechat_template")


async def test_when_wechat_says_the_window_closed_the_template_follows(
    engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush, redis_client: aioredis.Redis, prefix: str
) -> None:
    _, note_id = answered(engine, rules, "wechat")
    await redis_client.set(last_inbound_key(f"{prefix}:wx", OPENID), "1")
    await redis_client.set(choices_key(f"{prefix}:wx", OPENID), json.dumps(["/greet"]))  # what the user last saw
    fake.fail_next(OPENID, 45015, kind="custom")  # response out of time limit
    assert await pusher.deliver(note_id) == "sent"
    assert [m["kind"] for m in fake.sent()] == ["template"]
    # The numbered ratings never reached the user: their numbers still refer to what they saw.
    assert json.loads(await redis_client.get(choices_key(f"{prefix}:wx", OPENID))) == ["/greet"]
    assert note_state(engine, note_id) == ("delivered", "wechat_template")


async def test_refused_for_good_it_waits_for_the_next_turn_in_the_chat(
    engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush
) -> None:
    no, note_id = answered(engine, rules, "wechat")
    fake.fail_next(OPENID, 43004, kind="template")  # the user no longer follows the account
    assert await pusher.deliver(note_id) == "refused"
    assert fake.sent() == [] and note_state(engine, note_id) == ("pending", None)
    assert due_answers(engine) == []  # not pushed again ...
    [message] = answer_messages(engine, lambda: WORDING, OPENID, "wechat", ("wechat",))  # ... but shown when they write
    assert message.text.startswith(f"您的投诉 {no} 已有答复")
    assert [c.title for c in message.choices] == list(RATINGS)


async def test_a_transient_error_is_retried_and_released_meanwhile(
    engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush
) -> None:
    _, note_id = answered(engine, rules, "wechat")
    fake.fail_next(OPENID, -1, kind="template")
    assert await pusher.deliver(note_id) == "retry"
    assert note_state(engine, note_id) == ("pending", None)
    assert await pusher.deliver(note_id) == "sent"
    assert len(fake.sent("template")) == 1


async def test_mini_program_tickets_get_a_subscribe_message(
    engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush
) -> None:
    no, note_id = answered(engine, rules, "mp")
    assert await pusher.deliver(note_id) == "sent"
    [message] = fake.sent("subscribe")
    assert message["payload"]["page"] == "pages/complaints/index"
    assert message["payload"]["data"]["character_string1"]["value"] == no
    assert all(len(field["value"]) <= 20 for key, field in message["payload"]["data"].items() if key.startswith("thing"))


async def test_web_tickets_are_not_pushed(engine: Engine, rules: Rules, fake: FakeWeChatAPI, pusher: AnswerPush) -> None:
    _, note_id = answered(engine, rules, "web")
    assert due_answers(engine) == []
    assert await pusher.deliver(note_id) == "done" and fake.sent() == []
    assert note_state(engine, note_id) == ("pending", None)  # the next chat turn shows it
