"""End to end: a complaint (有诉即办) through POST /api/v1/chat on the real stack (Rasa, actions, bot).

Guided through a 一件事, the citizen says what went wrong in their own words; the form asks one
question at a time, reads it all back, and the confirmation answers with the ticket. The tickets
are then checked through the complaints API (GET /api/v1/complaints?user_id=) and the database.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import httpx
import pytest

from bot.complaints import service
from bot.store.db import make_engine, make_sessionmaker
from tests.e2e.conftest import Chat

pytestmark = pytest.mark.e2e

RESTAURANT = "开办餐饮店一件事"


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


def dump(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False)


def last_choices(messages: list[dict]) -> dict:
    found = of_type(messages, "choices")
    assert found, f"expected a choices message, got {dump(messages)}"
    return found[-1]


def tap(chat: Chat, messages: list[dict], title: str) -> list[dict]:
    """Tap the button called `title` of the last choices message (its payload, as the app sends it)."""
    for choice in last_choices(messages)["choices"]:
        if choice["title"] == title:
            return chat.tap(choice["payload"])
    raise AssertionError(f"no button {title!r} in {dump(messages)}")


def text_of(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def tickets(stack: Any, user_id: str) -> list[dict]:
    response = httpx.get(f"{stack.bot_url}/api/v1/complaints", params={"user_id": user_id}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["tickets"]


def guided_to_checklist(chat: Chat, utterance: str) -> None:
    messages = chat.say(utterance)
    messages = tap(chat, messages, next(c["title"] for c in last_choices(messages)["choices"] if "全部" in c["title"]))
    for _ in range(10):
        if of_type(messages, "checklist"):
            return
        messages = chat.tap(last_choices(messages)["choices"][0]["payload"])
    raise AssertionError("no checklist after 10 answers")


def to_readback(chat: Chat, messages: list[dict], place: str | None, phone: str | None) -> list[dict]:
    """From the place question: answer the place and the phone (None: the buttons 不填 / 不留电话)."""
    assert "在哪儿遇到的" in last_choices(messages)["text"], dump(messages)
    messages = chat.say(place) if place else tap(chat, messages, "不填")
    assert "联系电话" in last_choices(messages)["text"], dump(messages)
    messages = chat.say(phone) if phone else tap(chat, messages, "不留电话")
    assert "请核对您的诉求" in last_choices(messages)["text"], dump(messages)
    return messages


def test_guided_citizen_complains_gets_a_ticket_once_and_follows_it(stack, chat: Chat) -> None:
    guided_to_checklist(chat, "开个小饭馆要跑哪些部门")

    messages = chat.say("跑了三趟都没办成")
    # what happened was said already: the first question is what it is about, pre-filled from the guide
    subject = last_choices(messages)
    assert f"【{RESTAURANT}】" in subject["text"], dump(messages)
    assert "什么问题" not in text_of(messages)
    messages = tap(chat, messages, "是，就是这个")
    messages = to_readback(chat, messages, "县政务服务中心二楼餐饮许可窗口", "138 1234 5678")
    readback = last_choices(messages)
    for shown in ("跑了三趟都没办成", RESTAURANT, "县政务服务中心二楼餐饮许可窗口", "13812345678"):
        assert shown in readback["text"]
    assert [c["title"] for c in readback["choices"]] == ["确认提交", "修改", "算了"]
    confirm = next(c["payload"] for c in readback["choices"] if c["title"] == "确认提交")

    messages = chat.tap(confirm)
    [card] = of_type(messages, "ticket")
    ticket = card["ticket"]
    assert re.fullmatch(r"TS\d{8}-\d{6}", ticket["no"])
    assert ticket["status"] == "已受理"
    assert "县市场监管局" in ticket["departments"]  # the lead department of 开办餐饮店一件事
    assert date.fromisoformat(ticket["deadline"]) >= date.today()
    assert card["guide"] == {"id": "open_restaurant", "title": RESTAURANT}

    again = chat.tap(confirm)  # the confirmation tapped twice: the same ticket, not a second one
    assert of_type(again, "ticket")[0]["ticket"]["no"] == ticket["no"]
    stored = tickets(stack, chat.user_id)
    assert [t["no"] for t in stored] == [ticket["no"]]
    assert stored[0]["phone"] == "138****5678"

    messages = chat.say("我的投诉怎么样了")
    [shown] = of_type(messages, "ticket")
    assert shown["ticket"]["no"] == ticket["no"] and shown["ticket"]["status"] == "已受理"

    with make_sessionmaker(make_engine(stack.env["DATABASE_URL"]))() as session:
        row = service.get_ticket(session, ticket["no"])
        assert row is not None
        assert (row.channel, row.guide_id, row.text) == ("web", "open_restaurant", "跑了三趟都没办成")


def test_invalid_phone_is_asked_again_and_the_phone_can_be_declined(stack, chat: Chat) -> None:
    messages = chat.say("我要举报")
    assert "什么问题" in text_of(messages), dump(messages)
    messages = chat.say("窗口工作人员收了红包才给办")
    assert "哪个事项或部门" in last_choices(messages)["text"], dump(messages)
    messages = tap(chat, messages, "说不清")
    messages = tap(chat, messages, "不填")

    messages = chat.say("12345")
    assert "联系电话格式不对" in text_of(messages) and "11位手机号" in text_of(messages), dump(messages)
    assert "联系电话" in last_choices(messages)["text"]  # asked again
    messages = chat.say("不留了")
    assert "不留电话也可以" in text_of(messages), dump(messages)
    readback = last_choices(messages)
    assert "请核对您的诉求" in readback["text"] and "不留" in readback["text"]

    messages = tap(chat, messages, "确认提交")
    [card] = of_type(messages, "ticket")
    assert card["ticket"]["category"] == "举报"
    [stored] = tickets(stack, chat.user_id)
    assert stored["no"] == card["ticket"]["no"] and stored["phone"] is None


def test_help_mid_complaint_then_stop_and_the_guides_still_work(stack, chat: Chat) -> None:
    messages = chat.say("窗口态度太差")
    question = last_choices(messages)["text"]
    assert "哪个事项或部门" in question, dump(messages)
    messages = chat.say("你能干啥")
    assert "件事" in text_of(messages)  # the help, then the same question again
    assert last_choices(messages)["text"] == question
    messages = chat.say("算了")
    assert "不提交" in text_of(messages), dump(messages)
    assert tickets(stack, chat.user_id) == []
    messages = chat.say("开饭店要办啥证")
    assert RESTAURANT in messages[0]["text"], dump(messages)


def test_complaining_in_the_middle_of_a_guide(stack, chat: Chat) -> None:
    messages = chat.say("我要办退休")
    tap(chat, messages, next(c["title"] for c in last_choices(messages)["choices"] if "全部" in c["title"]))
    messages = chat.say("办个退休推来推去的，跑了好几趟了")
    assert "【退休一件事】" in last_choices(messages)["text"], dump(messages)
    messages = chat.say("是的")
    assert "在哪儿遇到的" in last_choices(messages)["text"], dump(messages)


def test_rating_the_answer_reopens_it_when_dissatisfied(stack, chat: Chat) -> None:
    messages = chat.say("社保卡补办说好一周，一个月了还没信儿")
    messages = chat.say("县人社局")
    messages = to_readback(chat, messages, None, None)
    no = of_type(tap(chat, messages, "确认提交"), "ticket")[0]["ticket"]["no"]

    with make_sessionmaker(make_engine(stack.env["DATABASE_URL"]))() as session:  # the department answers
        ticket = service.get_ticket(session, no)
        assert ticket is not None
        staff = service.Actor.system("e2e")
        service.transfer(session, ticket, staff)
        service.start(session, ticket, staff)
        service.answer(session, ticket, "社保卡已制好，可到县政务服务中心3号窗口领取。", staff)
        session.commit()

    messages = chat.say("我的投诉怎么样了")
    assert of_type(messages, "ticket")[0]["ticket"]["status"] == "已答复"
    assert "3号窗口领取" in text_of(messages)
    assert [c["title"] for c in last_choices(messages)["choices"]] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    messages = tap(chat, messages, "不满意")
    assert "已重新交办" in text_of(messages), dump(messages)
    [stored] = tickets(stack, chat.user_id)
    assert stored["status"] == "办理中" and stored["rating"] == "不满意"
