"""End to end through WeChat: the real stack's bot at /wechat in safe mode, WeChat's API faked on loopback.

WeChatSimulator signs and encrypts each request exactly as WeChat's server does (wechatpy) and
decrypts the passive reply; FakeWeChatAPI records the customer-service messages the bot sends.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.complaints import service
from bot.complaints.rules import RULES_FILE, Rules, load_rules
from bot.complaints.staff import create_staff
from bot.launcher import Stack, free_port
from bot.store.db import make_engine, make_sessionmaker
from tests.admin.conftest import csrf_of, version_of
from tests.e2e.conftest import WeChatAccount
from tests.fakes.serve import ServedApp
from tests.fakes.wechat_sim import WeChatSimulator

pytestmark = pytest.mark.e2e

LIMIT = 2048
_MARKER = re.compile(r"（(\d+)/(\d+)）\s*$")


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


class WeChatUser:
    """One follower of the official account, typing in WeChat."""

    def __init__(self, sim: WeChatSimulator, wechat: WeChatAccount, openid: str | None = None) -> None:
        self.sim = sim
        self.api = wechat.api
        self.openid = openid or "o" + secrets.token_hex(12)
        self.seen_custom = 0

    def custom(self) -> list[str]:
        return [m["content"] for m in self.api.sent("custom") if m["touser"] == self.openid]

    def answer(self, xml: str) -> list[str]:
        """Send one message; everything it answers, in order: the passive reply, then 客服消息 parts."""
        response = self.sim.post(xml, timeout=5.0)
        assert response.status_code == 200, response.text
        passive = self.sim.reply_text(response)
        parts = [passive] if passive else []
        deadline = time.monotonic() + 15
        while True:
            arrived = parts + self.new_custom()
            if arrived:
                marker = _MARKER.search(arrived[0])
                if len(arrived) >= (int(marker.group(2)) if marker else 1):
                    break
            assert time.monotonic() < deadline, f"only {arrived} arrived"
            time.sleep(0.1)
        self.seen_custom = len(self.custom())
        for part in arrived:
            assert nbytes(part) <= LIMIT, f"{nbytes(part)} bytes: {part[:80]}"
        return arrived

    def new_custom(self) -> list[str]:
        return self.custom()[self.seen_custom :]

    def say(self, text: str) -> str:
        return "\n".join(self.answer(self.sim.text_xml(self.openid, text)))


@pytest.fixture
def sim(stack: Stack, wechat: WeChatAccount) -> Iterator[WeChatSimulator]:
    with WeChatSimulator(stack.bot_url, wechat.token, wechat.app_id, aes_key=wechat.aes_key) as simulator:
        yield simulator


def test_guided_conversation_in_safe_mode_ends_in_a_split_notice(sim: WeChatSimulator, wechat: WeChatAccount) -> None:
    user = WeChatUser(sim, wechat)
    welcome = user.answer(sim.subscribe_xml(user.openid))
    assert "一件事" in welcome[0] and "投诉" in welcome[0]

    first = user.say("娃刚生下来要办啥手续")
    assert "新生儿出生一件事" in first
    # The sub-items are numbered in the text, so the two choices are offered as words, not numbers.
    assert re.search(r"^1\. ", first, re.M) and "· 全部办理" in first, first

    reply = user.say("全部办理")
    for _ in range(10):
        if "免" in reply and "/notices/" in reply:
            break
        assert re.search(r"^1\. ", reply, re.M), reply  # a question with numbered answers
        reply = user.say("1")
    else:
        raise AssertionError("no notice after 10 answers")
    # The 一次告知: exempt materials, and the printable notice at the public address.
    assert "https://yishiban.example.cn/notices/" in reply
    assert "新生儿出生一件事" in reply


def test_long_notice_is_split_in_order_within_the_byte_limit(sim: WeChatSimulator, wechat: WeChatAccount) -> None:
    user = WeChatUser(sim, wechat)
    user.say("娃刚生下来要办啥手续")
    parts = user.answer(sim.text_xml(user.openid, "全部办理"))
    for _ in range(10):
        if any("/notices/" in p for p in parts):
            break
        parts = user.answer(sim.text_xml(user.openid, "1"))
    assert len(parts) >= 2, "the newborn notice with every sub-item should not fit one WeChat message"
    numbers = [tuple(map(int, _MARKER.search(p).groups())) for p in parts]  # type: ignore[union-attr]
    assert numbers == [(i + 1, len(parts)) for i in range(len(parts))]
    assert all(nbytes(p) <= LIMIT for p in parts)


def test_three_deliveries_of_one_message_get_one_answer(sim: WeChatSimulator, wechat: WeChatAccount) -> None:
    user = WeChatUser(sim, wechat)
    xml = sim.text_xml(user.openid, "开个小饭馆要跑哪些部门")
    request = sim.build_request(xml)
    responses: list[httpx.Response] = []

    def deliver() -> None:
        with httpx.Client(timeout=10) as client:
            responses.append(client.send(request))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers = [text for r in responses if (text := sim.reply_text(r))]
    time.sleep(1.5)  # anything sent late would have arrived by now
    assert len(answers) + len(user.custom()) == 1, (answers, user.custom())
    assert "开办餐饮店一件事" in (answers + user.custom())[0]


def test_voice_and_menu_reach_the_assistant(sim: WeChatSimulator, wechat: WeChatAccount) -> None:
    user = WeChatUser(sim, wechat)
    spoken = "\n".join(user.answer(sim.voice_xml(user.openid, "俺爹今年要退休了手续咋办")))
    assert "退休一件事" in spoken
    menu = "\n".join(user.answer(sim.click_xml(user.openid, "GUIDE")))
    assert "一件事" in menu
    picture = "\n".join(user.answer(sim.image_xml(user.openid)))
    assert "文字" in picture or "语音" in picture


class SlowRasa:
    """A delaying hop in front of the real Rasa: the conversation takes longer than WeChat waits."""

    def __init__(self, rasa_url: str, delay: float) -> None:
        self.rasa_url, self.delay = rasa_url, delay
        self.app = Starlette(routes=[Route("/webhooks/rest/webhook", self.webhook, methods=["POST"]),
                                     Route("/webhooks/rest/", self.health)])

    async def webhook(self, request: Request) -> Response:
        body = await request.body()
        await asyncio.sleep(self.delay)
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(f"{self.rasa_url}/webhooks/rest/webhook", content=body,
                                       headers={"Content-Type": "application/json"})
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    async def health(self, request: Request) -> Response:
        return Response('{"status": "ok"}', media_type="application/json")


def test_a_conversation_slower_than_five_seconds_is_answered_once_by_customer_service(
    stack: Stack, wechat: WeChatAccount
) -> None:
    with ServedApp(SlowRasa(stack.rasa_url, delay=6.0).app) as slow:
        # A second bot, in plain mode, whose Rasa answers after 6 s.
        bot_url = stack.start_bot("bot-slow", free_port(), {"RASA_URL": slow.url, "WECHAT_AES_KEY": ""})
        with WeChatSimulator(bot_url, wechat.token, wechat.app_id) as plain:
            user = WeChatUser(plain, wechat)
            started = time.monotonic()
            xml = plain.text_xml(user.openid, "申请公租房要啥材料", msg_id=secrets.randbelow(10**15))
            result = plain.deliver(xml)  # as WeChat: 5 s per try, up to 3 tries
            assert result.delivered and len(result.tries) == 1, result  # answered in time: no retry
            assert plain.reply_text(result.response) is None  # `success`: the answer follows
            assert time.monotonic() - started < 5.0
            sent = wechat.api.wait_for(lambda m: m["touser"] == user.openid, timeout=20)
            assert "申请公租房一件事" in sent[0]["content"]
            # A late retry of the same message, and some patience: still exactly one answer.
            again = plain.post(xml, timeout=5.0)
            assert again.status_code == 200
            time.sleep(2)
            assert len([m for m in user.custom() if "申请公租房一件事" in m]) == 1


def test_a_department_answer_reaches_the_wechat_user_who_rates_it_by_number(
    sim: WeChatSimulator, wechat: WeChatAccount, stack: Stack
) -> None:
    """Staff answer in the desk; the worker pushes a 客服消息 at once; the user replies “2” and 满意 is recorded."""
    user = WeChatUser(sim, wechat)
    user.say("你好")  # the user wrote: 客服消息 may reach them for 48 hours
    username, password = "e2e-police-" + secrets.token_hex(3), "correct horse battery e2e"
    engine = make_engine(stack.env["DATABASE_URL"])
    rules = Rules(load_rules(stack.guides_dir / RULES_FILE)[0], "e2e")  # type: ignore[attr-defined]
    with make_sessionmaker(engine)() as session:  # a ticket filed through WeChat, routed to the police
        submission = service.Submission(user_id=user.openid, channel="wechat", idempotency_key="e2e-push",
                                        text="派出所办户口迁移跑了三趟都没办成")
        ticket, _ = service.create_ticket(session, submission, rules=rules)
        service.transfer(session, ticket, service.Actor.system("e2e"), ["县公安局"])
        create_staff(session, username, "县公安局", password)
        session.commit()
        no = ticket.no

    answer = "已协调户籍窗口，明天上午带身份证和户口簿到2号窗口直接办理。"
    # The desk's cookies are Secure (PUBLIC_BASE_URL is https); carried by hand over the loopback http.
    cookies: dict[str, str] = {}

    def desk(method: str, path: str, **kw: Any) -> httpx.Response:
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        response = httpx.request(method, stack.bot_url + path, headers={"Cookie": header}, timeout=10, **kw)
        cookies.update(response.cookies)
        return response

    page = desk("GET", "/admin/login")
    login = desk("POST", "/admin/login", data={"csrf": csrf_of(page.text), "username": username, "password": password})
    assert login.status_code == 303, login.text
    page = desk("GET", f"/admin/complaints/{no}")
    done = desk("POST", f"/admin/complaints/{no}/answer",
                data={"csrf": csrf_of(page.text), "version": version_of(page.text), "answer": answer})
    assert done.status_code == 303, done.text

    deadline = time.monotonic() + 20  # enqueued by the desk, sent by the worker process
    while not user.new_custom():
        assert time.monotonic() < deadline, "no 客服消息 with the answer"
        time.sleep(0.1)
    [notice] = user.new_custom()
    user.seen_custom = len(user.custom())
    assert f"{no} 已有答复：{answer}" in notice
    assert "1. 非常满意" in notice and "2. 满意" in notice
    # inside the window: no template message to this user (other tests push policy notices to theirs)
    assert not [m for m in wechat.api.sent("template") if m["touser"] == user.openid]

    reply = user.say("2")
    assert "感谢您的评价（满意）" in reply, reply
    with make_sessionmaker(engine)() as session:
        stored = service.get_ticket(session, no)
        assert stored is not None and stored.rating == "满意"
    engine.dispose()
