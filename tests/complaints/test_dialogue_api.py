"""/api/v1/dialogue/complaint/* through the real app, on both databases: what the actions call.

The whole form as the actions drive it (start, prompts, answers, submit), a double-tapped
confirmation giving one ticket, 算了, the status with the department's answer, and 好差评.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from bot.complaints import notifications, service
from bot.complaints.models import Ticket
from bot.complaints.service import Actor
from bot.store.db import make_sessionmaker

URL = "/api/v1/dialogue/complaint"
USER = "oDialogueUser_1234567890"
STAFF = Actor.system("test")


def post(client: TestClient, step: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{URL}/{step}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


class Conversation:
    """The complaint slots as Rasa keeps them; each call sends them along and applies what comes back."""

    def __init__(self, client: TestClient, user_id: str = USER, **slots: Any) -> None:
        self.client = client
        self.user_id = user_id
        self.slots: dict[str, Any] = dict(slots)

    def apply(self, reply: dict[str, Any]) -> list[dict[str, Any]]:
        self.slots.update(reply["slots"])
        return reply["messages"]

    def start(self, text: str) -> list[dict]:
        return self.apply(post(self.client, "start", {"state": self.slots, "text": text}))

    def prompt(self, slot: str) -> list[dict]:
        return self.apply(post(self.client, "prompt", {"slot": slot, "state": self.slots}))

    def answer(self, slot: str, text: str, choice: str | None = None) -> list[dict]:
        self.slots[slot] = text
        return self.apply(post(self.client, "interpret", {"slot": slot, "state": self.slots, "text": text, "choice": choice}))

    def submit(self, channel: str = "wechat", choice: str | None = "submit") -> list[dict]:
        body = {"state": self.slots, "user_id": self.user_id, "channel": channel, "choice": choice}
        return self.apply(post(self.client, "submit", body))


def fill(conversation: Conversation) -> None:
    """开办餐饮店一件事 just used; 跑了三趟都没办成; the guide confirmed; place; phone; 确认提交."""
    conversation.slots["guide_id"] = "open_restaurant"
    conversation.start("跑了三趟都没办成")
    conversation.answer("complaint_subject", '/choose{"choice": "subject:yes"}', "subject:yes")
    conversation.answer("complaint_place", "县政务服务中心二楼")
    conversation.answer("complaint_phone", "138 1234 5678")
    conversation.answer("complaint_confirm", '/confirm_complaint{"choice": "submit"}', "submit")


def count(engine: Engine, user_id: str = USER) -> int:
    with make_sessionmaker(engine)() as session:
        return session.scalar(select(func.count()).select_from(Ticket).where(Ticket.user_id == user_id)) or 0


def answer_ticket(engine: Engine, no: str, text: str = "已为您加急办理，请到3号窗口领取。") -> None:
    with make_sessionmaker(engine)() as session:
        ticket = service.get_ticket(session, no)
        assert ticket is not None
        service.transfer(session, ticket, STAFF)
        service.start(session, ticket, STAFF)
        service.answer(session, ticket, text, STAFF)
        session.commit()


def test_the_form_then_a_ticket(client: TestClient, engine: Engine) -> None:
    conversation = Conversation(client)
    fill(conversation)
    assert conversation.slots["complaint_confirm"] == "submit"

    messages = conversation.submit()
    ticket, note = messages
    assert ticket["type"] == "ticket"
    assert set(ticket["ticket"]) == {"no", "status", "category", "departments", "deadline"}
    assert re.fullmatch(r"TS\d{8}-\d{6}", ticket["ticket"]["no"])
    assert ticket["ticket"]["status"] == "已受理"
    assert ticket["ticket"]["departments"][0] == "县市场监管局"  # the guide's lead department
    assert date.fromisoformat(ticket["ticket"]["deadline"]) >= date.today()
    assert ticket["guide"] == {"id": "open_restaurant", "title": "开办餐饮店一件事"}
    assert note["type"] == "text" and ticket["ticket"]["no"] in note["text"] and "我的投诉怎么样了" in note["text"]

    with make_sessionmaker(engine)() as session:
        stored = service.get_ticket(session, ticket["ticket"]["no"])
        assert stored is not None
        assert (stored.user_id, stored.channel, stored.text) == (USER, "wechat", "跑了三趟都没办成")
        assert (stored.subject, stored.guide_id, stored.place) == ("开办餐饮店一件事", "open_restaurant", "县政务服务中心二楼")
        assert stored.phone == "+8613812345678"
        assert stored.idempotency_key == conversation.slots["complaint_key"]


def test_confirmation_tapped_twice_or_retried_gives_one_ticket(client: TestClient, engine: Engine) -> None:
    conversation = Conversation(client)
    fill(conversation)
    first = conversation.submit()
    second = conversation.submit()  # the same tap again, after the form ended
    third = conversation.submit(choice=None)  # typed “确认提交”
    numbers = {m["ticket"]["no"] for m in [*first, *second, *third] if m["type"] == "ticket"}
    assert len(numbers) == 1
    assert "已经提交过了" in second[1]["text"]
    assert count(engine) == 1
    # after it was submitted, 修改 / 算了 from the old read-back cannot change it
    for choice in ("edit", "cancel"):
        messages = conversation.submit(choice=choice)
        assert "不能再修改或撤回" in messages[0]["text"]
        assert messages[1]["ticket"]["no"] in numbers
    assert count(engine) == 1


def test_declined_phone_and_skipped_place(client: TestClient, engine: Engine) -> None:
    conversation = Conversation(client)
    conversation.start("我要举报")
    assert conversation.slots["complaint_text"] is None
    conversation.answer("complaint_text", "有人收了红包才给办营业执照")
    conversation.answer("complaint_subject", "说不清")
    conversation.answer("complaint_place", '/choose{"choice": "place:skip"}', "place:skip")
    conversation.answer("complaint_phone", "不留了")
    [readback] = conversation.prompt("complaint_confirm")
    assert "不留" in readback["text"]
    conversation.answer("complaint_confirm", "确认提交")
    ticket, note = conversation.submit(channel="mp")
    assert ticket["ticket"]["category"] == "举报"
    assert "答复会在这里告诉您" in note["text"]
    with make_sessionmaker(engine)() as session:
        stored = service.get_ticket(session, ticket["ticket"]["no"])
        assert stored is not None
        assert (stored.phone, stored.place, stored.subject, stored.channel) == (None, None, None, "mp")


def test_cancel_at_the_readback_and_stop_mid_form(client: TestClient, engine: Engine) -> None:
    conversation = Conversation(client)
    fill(conversation)
    conversation.answer("complaint_confirm", '/confirm_complaint{"choice": "cancel"}', "cancel")
    [message] = conversation.submit(choice="cancel")
    assert "不提交" in message["text"]
    assert conversation.slots["complaint_key"] is None and conversation.slots["complaint_text"] is None
    assert count(engine) == 0
    # nothing is pending any more
    [message] = conversation.submit()
    assert "没有待提交的诉求" in message["text"]

    conversation.start("窗口态度太差")
    [message] = conversation.apply(post(client, "stop", {"state": conversation.slots}))
    assert "不提交" in message["text"] and conversation.slots["complaint_text"] is None
    assert count(engine) == 0


def test_a_readback_that_failed_to_submit_can_still_be_submitted_or_dropped(client: TestClient, engine: Engine) -> None:
    conversation = Conversation(client)
    fill(conversation)
    [message] = conversation.submit(choice="edit")  # nothing stored under this key yet
    assert "还没有提交" in message["text"]
    assert [c["title"] for c in message["choices"]] == ["确认提交", "算了"]
    assert count(engine) == 0
    [message] = conversation.submit(choice="cancel")
    assert "不提交" in message["text"] and count(engine) == 0


def test_database_trouble_keeps_the_draft(client: TestClient, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    conversation = Conversation(client)
    fill(conversation)
    monkeypatch.setattr(service, "create_ticket", broken)
    [message] = conversation.submit()
    assert "系统繁忙" in message["text"]
    assert conversation.slots["complaint_confirm"] == "submit"  # the draft and key stay for the retry
    monkeypatch.undo()
    messages = conversation.submit()
    assert messages[0]["type"] == "ticket" and count(engine) == 1


def test_status_answer_and_ratings(client: TestClient, engine: Engine) -> None:
    user = "oStatusUser_0987654321"
    [empty] = post(client, "status", {"user_id": user})["messages"]
    assert "还没有提交过诉求" in empty["text"]

    conversation = Conversation(client, user_id=user)
    fill(conversation)
    no = conversation.submit()[0]["ticket"]["no"]
    messages = post(client, "status", {"user_id": user})["messages"]
    assert [m["type"] for m in messages] == ["text", "ticket"]
    assert messages[1]["ticket"]["no"] == no and messages[1]["ticket"]["status"] == "已受理"

    # not answered yet: nothing to rate
    [none] = post(client, "rate", {"user_id": user, "text": "满意"})["messages"]
    assert "没有待评价" in none["text"]

    answer_ticket(engine, no)
    messages = post(client, "status", {"user_id": user})["messages"]
    assert [m["type"] for m in messages] == ["text", "ticket", "text", "choices"]
    assert messages[1]["ticket"]["status"] == "已答复"
    assert "已为您加急办理" in messages[2]["text"]
    choices = messages[3]["choices"]
    assert [c["title"] for c in choices] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert choices[0]["payload"] == f'/rate_ticket{{"ticket_no": "{no}", "rating": "非常满意"}}'

    # someone else's ticket: not found, nothing changes
    [other] = post(client, "rate", {"user_id": "intruder", "ticket_no": no, "rating": "非常不满意"})["messages"]
    assert "没有找到" in other["text"]

    [reopened] = post(client, "rate", {"user_id": user, "ticket_no": no, "rating": "不满意", "text": "x"})["messages"]
    assert "已重新交办" in reopened["text"] and no in reopened["text"]
    listed = client.get("/api/v1/complaints", params={"user_id": user}).json()["tickets"]
    assert listed[0]["status"] == "办理中" and listed[0]["rating"] == "不满意"

    # answered again, rated by typing this time; then a second rating is refused politely
    answer_ticket_again(engine, no)
    [thanks] = post(client, "rate", {"user_id": user, "text": "这回很满意"})["messages"]
    assert "感谢您的评价" in thanks["text"] and "非常满意" in thanks["text"]
    [refused] = post(client, "rate", {"user_id": user, "ticket_no": no, "rating": "满意"})["messages"]
    assert "评价过" in refused["text"]
    messages = post(client, "status", {"user_id": user})["messages"]
    assert "您的评价：非常满意" in messages[2]["text"] and all(m["type"] != "choices" for m in messages)


def answer_ticket_again(engine: Engine, no: str) -> None:
    with make_sessionmaker(engine)() as session:
        ticket = service.get_ticket(session, no)
        assert ticket is not None
        service.answer(session, ticket, "已重新办理，证已办好。", STAFF)
        session.commit()


def test_typed_rating_with_several_answers_waiting_asks_which(client: TestClient, engine: Engine) -> None:
    user = "oTwoTickets_555"
    numbers = []
    for text in ("窗口态度太差", "跑了三趟都没办成"):
        conversation = Conversation(client, user_id=user)
        conversation.start(text)
        conversation.answer("complaint_subject", "说不清")
        conversation.answer("complaint_place", "不填")
        conversation.answer("complaint_phone", "不留了")
        conversation.answer("complaint_confirm", "确认提交")
        numbers.append(conversation.submit()[0]["ticket"]["no"])
        answer_ticket(engine, numbers[-1])
    [which] = post(client, "rate", {"user_id": user, "text": "满意"})["messages"]
    assert which["type"] == "choices"
    assert {c["payload"] for c in which["choices"]} == {
        f'/rate_ticket{{"ticket_no": "{no}", "rating": "满意"}}' for no in numbers
    }
    # a ticket chosen without a rating: the five ratings are offered
    body = {"user_id": user, "ticket_no": numbers[0], "text": f'/rate_ticket{{"ticket_no": "{numbers[0]}"}}'}
    [ask] = post(client, "rate", body)["messages"]
    assert ask["type"] == "choices" and len(ask["choices"]) == 5


def test_requests_are_checked(client: TestClient) -> None:
    assert client.post(f"{URL}/prompt", json={"slot": "guide_items", "state": {}}).status_code == 422
    assert client.post(f"{URL}/submit", json={"state": {}, "user_id": "", "channel": "web"}).status_code == 422
    assert client.post(f"{URL}/submit", json={"state": {}, "user_id": "u", "channel": "fax"}).status_code == 422
    # whatever Rasa holds in the slots, a step answers (never a 500)
    odd = {"complaint_editing": None, "complaint_text": 5, "complaint_key": {"a": 1}, "guide_id": "no_such_guide"}
    assert client.post(f"{URL}/prompt", json={"slot": "complaint_subject", "state": odd}).status_code == 200
    assert client.post(f"{URL}/submit", json={"state": odd, "user_id": "u"}).status_code == 200


def test_the_router_is_registered(app: FastAPI) -> None:
    paths = set(app.openapi()["paths"])
    for step in ("start", "prompt", "interpret", "submit", "stop", "status", "rate"):
        assert f"{URL}/{step}" in paths


def test_every_complaint_template_renders_in_the_steps(
    client: TestClient, app: FastAPI, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each complaint_* reply in guides/templates/replies.yml is reachable and renders (StrictUndefined)."""
    from bot.api.routes.complaint_dialogue import get_complaint_dialogue

    rendered: set[str] = set()
    real = get_complaint_dialogue

    def recording(request: Request) -> Any:
        dialogue = real(request)
        render = dialogue.say

        def say(key: str, **context: Any) -> str:
            rendered.add(key)
            text = render(key, **context)
            assert text.strip() and "{{" not in text, key
            return text

        dialogue.say = say  # type: ignore[method-assign]
        return dialogue

    app.dependency_overrides[get_complaint_dialogue] = recording
    try:
        user = "oTemplates_42"
        conversation = Conversation(client, user_id=user)
        conversation.start("我要投诉")
        conversation.prompt("complaint_text")
        conversation.answer("complaint_text", "投诉")
        conversation.answer("complaint_text", "啊" * 2001)
        conversation.answer("complaint_text", "窗口态度太差，跑了三趟")
        conversation.prompt("complaint_subject")
        conversation.answer("complaint_subject", "不是")
        conversation.answer("complaint_subject", "县人社局")
        conversation.prompt("complaint_place")
        conversation.answer("complaint_place", '/choose{"choice": "subject:yes"}', "subject:yes")
        conversation.answer("complaint_place", "不填")
        conversation.prompt("complaint_phone")
        conversation.answer("complaint_phone", "12345")
        conversation.answer("complaint_phone", "不方便")
        conversation.prompt("complaint_confirm")
        conversation.answer("complaint_confirm", "嗯嗯啊啊")
        conversation.answer("complaint_confirm", "修改")
        conversation.prompt("complaint_confirm")
        conversation.answer("complaint_confirm", "随便")
        conversation.answer("complaint_confirm", "不改了")
        conversation.answer("complaint_confirm", "确认提交")
        conversation.submit(choice="edit")  # not stored yet
        with monkeypatch.context() as patched:
            busy = OperationalError("INSERT", {}, Exception("database is locked"))
            patched.setattr(service, "create_ticket", lambda *a, **k: (_ for _ in ()).throw(busy))
            conversation.submit()
        no = conversation.submit()[0]["ticket"]["no"]
        conversation.submit()
        conversation.submit(choice="cancel")
        conversation.slots["complaint_text"] = "内容改了，编号没改"  # same key, other content: refused
        conversation.submit()
        conversation.slots["complaint_confirm"] = "cancel"
        conversation.submit(choice="cancel")
        conversation.submit()
        post(client, "stop", {"state": {}})
        post(client, "status", {"user_id": "oNobody"})
        post(client, "rate", {"user_id": user, "text": "满意"})
        answer_ticket(engine, no)
        post(client, "status", {"user_id": user})
        post(client, "rate", {"user_id": user, "ticket_no": no, "text": "嗯"})
        post(client, "rate", {"user_id": user, "ticket_no": no, "rating": "非常不满意"})
        post(client, "rate", {"user_id": user, "ticket_no": no, "rating": "满意"})
        answer_ticket_again(engine, no)
        post(client, "rate", {"user_id": user, "ticket_no": no, "rating": "满意"})
        other = Conversation(client, user_id=user)
        other.start("跑了三趟都没办成")
        other.answer("complaint_subject", "说不清")
        other.answer("complaint_place", "不填")
        other.answer("complaint_phone", "不留了")
        other.answer("complaint_confirm", "确认提交")
        second = other.submit()[0]["ticket"]["no"]
        answer_ticket(engine, second)
        answer_ticket_again_reopened = Conversation(client, user_id=user)  # a third, so two wait for a rating
        answer_ticket_again_reopened.start("办个证推来推去")
        for slot, said in (("complaint_subject", "说不清"), ("complaint_place", "不填"), ("complaint_phone", "不留了"),
                           ("complaint_confirm", "确认提交")):
            answer_ticket_again_reopened.answer(slot, said)
        answer_ticket(engine, answer_ticket_again_reopened.submit()[0]["ticket"]["no"])
        post(client, "rate", {"user_id": user, "text": "满意"})
    finally:
        app.dependency_overrides.pop(get_complaint_dialogue, None)

    templates = {k for k in client.app.state.catalog_store.get().wording.templates if k.startswith("complaint_")}  # type: ignore[attr-defined]
    # The answer notice is the notifications' (tests/admin/test_notifications.py renders it), not the steps'.
    templates.discard(notifications.ANSWER_NOTICE)
    assert rendered == templates, f"never rendered: {sorted(templates - rendered)}"
