"""The complaint flow (有诉即办): start, the form's questions and validation, submit, 算了, status, 好差评.

Each test: a tracker from fixtures/complaint_*.json, one action run against the real backend (its
own throw-away database), then the json_messages dispatched and the events returned. Tickets that
need a department's answer are made through the bot's API and answered by staff in a subprocess of
the app venv (the staff side is bot.complaints.service; this venv cannot import the app).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

import pytest
from action_helpers import APP_PYTHON, ROOT, assert_payloads_known, load, payloads, post_json, sent, slot_values
from rasa_sdk.events import SlotSet

pytestmark = pytest.mark.asyncio(loop_scope="session")

RESTAURANT = {"id": "open_restaurant", "title": "开办餐饮店一件事"}
RATINGS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
DRAFT_KEYS = {
    "complaint_text", "complaint_subject", "complaint_guide_id", "complaint_place", "complaint_phone",
    "complaint_confirm", "complaint_editing", "complaint_key", "complaint_opening",
}


def get_tickets(backend_url: str, user_id: str) -> list[dict]:
    with urllib.request.urlopen(f"{backend_url}/api/v1/complaints?user_id={user_id}", timeout=10) as response:
        return json.loads(response.read())["tickets"]


ANSWER_SCRIPT = """
import sys
from sqlalchemy import select
from bot.complaints import service
from bot.complaints.models import Ticket
from bot.store.db import make_engine, make_sessionmaker

url, no, text = sys.argv[1:4]
with make_sessionmaker(make_engine(url))() as session:
    ticket = session.scalar(select(Ticket).where(Ticket.no == no))
    staff = service.Actor.system("test")
    service.transfer(session, ticket, staff)
    service.start(session, ticket, staff)
    service.answer(session, ticket, text, staff)
    session.commit()
"""


def answered_ticket(backend_url: str, database: str, user_id: str, answer: str) -> str:
    """A ticket of `user_id` that the department has answered (so 好差评 is open)."""
    body = {"user_id": user_id, "channel": "web", "idempotency_key": f"seed-{user_id}", "text": "社保卡补办一个月了还没拿到",
            "subject": None, "guide_id": None, "place": None, "phone": None}
    no = post_json(f"{backend_url}/api/v1/complaints", body)["ticket"]["no"]
    subprocess.run([str(APP_PYTHON), "-c", ANSWER_SCRIPT, database, no, answer], cwd=ROOT, check=True)
    return no


# --- 1. start --------------------------------------------------------------------------------------


async def test_start_takes_a_substantive_first_message_as_the_complaint(actions, dispatcher, domain):
    events = await actions.complaint_actions.ActionStartComplaint().run(
        dispatcher, load("complaint_start_after_guide"), domain
    )

    [message] = sent(dispatcher)
    assert message["type"] == "text" and "登记" in message["text"]
    slots = slot_values(events)
    assert set(slots) == DRAFT_KEYS  # the last complaint's answers are all dropped ...
    assert slots["complaint_text"] == "跑了三趟都没办成"  # ... and this one is not asked for again
    assert all(slots[k] is None for k in DRAFT_KEYS - {"complaint_text", "complaint_editing", "complaint_key"})
    assert slots["complaint_editing"] is False
    # a new idempotency key, made once here and kept in a slot for the whole form
    assert slots["complaint_key"] and slots["complaint_key"] != "old-key-of-the-last-complaint"


async def test_start_with_only_i_want_to_complain_asks_what_happened(actions, dispatcher, domain):
    events = await actions.complaint_actions.ActionStartComplaint().run(dispatcher, load("complaint_start_generic"), domain)

    slots = slot_values(events)
    assert slots["complaint_text"] is None and slots["complaint_key"]
    assert slots["complaint_opening"] == "我要投诉"  # joined to what happened, for the ticket's category
    dispatcher.messages.clear()
    await actions.complaint_actions.ActionAskComplaintText().run(dispatcher, load("complaint_ask_text"), domain)
    [question] = sent(dispatcher)
    assert question["type"] == "text" and "什么问题" in question["text"]


# --- 2. the questions ---------------------------------------------------------------------------------


async def test_subject_is_prefilled_from_the_guide_just_used(actions, dispatcher, domain):
    events = await actions.complaint_actions.ActionAskComplaintSubject().run(dispatcher, load("complaint_ask_subject"), domain)

    [message] = sent(dispatcher)
    assert message["type"] == "choices"
    assert "开办餐饮店一件事" in message["text"]
    assert message["guide"] == RESTAURANT
    assert payloads(message)[0] == ("choose", {"choice": "subject:yes"})
    assert_payloads_known([message], domain)
    assert events == []


async def test_subject_confirmed_names_the_guide(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_subject_yes"), domain
    )

    assert sent(dispatcher) == []
    slots = slot_values(events)
    assert slots["complaint_subject"] == "开办餐饮店一件事"
    assert slots["complaint_guide_id"] == "open_restaurant"


async def test_subject_changed_to_a_department(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_subject_department"), domain
    )

    slots = slot_values(events)
    assert slots["complaint_subject"] == "县公安局"
    assert slots["complaint_guide_id"] is None


async def test_invalid_phone_is_asked_again_with_a_clear_chinese_note(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_phone_invalid"), domain
    )

    [message] = sent(dispatcher)
    assert message["type"] == "text"
    assert "联系电话格式不对" in message["text"] and "11位手机号" in message["text"]
    assert slot_values(events)["complaint_phone"] is None  # the form asks again


async def test_phone_within_words_is_taken_in_e164(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_phone_valid"), domain
    )

    assert sent(dispatcher) == []
    assert slot_values(events)["complaint_phone"] == "+8613812345678"


async def test_phone_can_be_declined(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_phone_declined"), domain
    )

    [message] = sent(dispatcher)
    assert "不留电话也可以" in message["text"]
    assert slot_values(events)["complaint_phone"] == "declined"  # filled: the form moves on


async def test_readback_shows_everything_with_three_choices(actions, dispatcher, domain):
    await actions.complaint_actions.ActionAskComplaintConfirm().run(dispatcher, load("complaint_ask_confirm"), domain)

    [message] = sent(dispatcher)
    assert message["type"] == "choices"
    for shown in ("跑了三趟都没办成", "开办餐饮店一件事", "县政务服务中心二楼", "13812345678"):
        assert shown in message["text"]
    assert [c["title"] for c in message["choices"]] == ["确认提交", "修改", "算了"]
    assert [p for p, _ in payloads(message)] == ["confirm_complaint"] * 3
    assert_payloads_known([message], domain)


async def test_edit_asks_which_field_then_clears_it(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_confirm_edit"), domain
    )
    assert slot_values(events) == {"complaint_confirm": None, "complaint_editing": True}

    dispatcher.messages.clear()
    await actions.complaint_actions.ActionAskComplaintConfirm().run(dispatcher, load("complaint_ask_edit"), domain)
    [which] = sent(dispatcher)
    assert [c["title"] for c in which["choices"]] == ["问题描述", "事项或部门", "地点", "联系电话", "不改了"]
    assert_payloads_known([which], domain)

    dispatcher.messages.clear()
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_edit_place"), domain
    )
    # the place is asked again, then the read-back
    assert slot_values(events) == {"complaint_place": None, "complaint_confirm": None, "complaint_editing": False}


async def test_typed_confirmation(actions, dispatcher, domain):
    events = await actions.complaint_actions.ValidateComplaintForm().run(
        dispatcher, load("complaint_validate_confirm_submit"), domain
    )

    assert slot_values(events) == {"complaint_confirm": "submit", "complaint_editing": False}


# --- 3. submit, retry, 算了 ---------------------------------------------------------------------------


async def test_submit_makes_one_ticket_however_often_it_is_confirmed(actions, dispatcher, domain, backend_url, monkeypatch):
    calls: list[tuple] = []
    real = actions.backend.backend.complaint_submit

    async def recording(state, user_id, channel, choice):
        calls.append((user_id, channel, choice, state["complaint_key"]))
        return await real(state, user_id, channel, choice)

    monkeypatch.setattr(actions.backend.backend, "complaint_submit", recording)
    action = actions.complaint_actions.ActionSubmitComplaint()

    events = await action.run(dispatcher, load("complaint_submit"), domain)
    first = sent(dispatcher)
    ticket = first[0]
    assert ticket["type"] == "ticket"
    assert ticket["guide"] == RESTAURANT
    assert ticket["ticket"]["status"] == "已受理"
    assert "县市场监管局" in ticket["ticket"]["departments"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", ticket["ticket"]["deadline"])
    assert ticket["ticket"]["no"] in first[1]["text"]
    assert events == []  # the draft stays: tapping 确认提交 again is a retry

    dispatcher.messages.clear()
    await action.run(dispatcher, load("complaint_submit"), domain)  # the same tap again
    second = sent(dispatcher)
    assert second[0]["ticket"]["no"] == ticket["ticket"]["no"]
    assert "已经提交过了" in second[1]["text"]

    # the channel came from the message's metadata; the key from the slot
    assert calls == [("complaint-submit", "wechat", "submit", "3b0c2a8f9d5e4c1b8a7f6e5d4c3b2a19")] * 2
    tickets = get_tickets(backend_url, "complaint-submit")
    assert [t["no"] for t in tickets] == [ticket["ticket"]["no"]]
    assert tickets[0]["phone"] == "138****5678"


async def test_cancel_at_the_readback_drops_the_draft(actions, dispatcher, domain, backend_url):
    events = await actions.complaint_actions.ActionSubmitComplaint().run(
        dispatcher, load("complaint_submit_cancelled"), domain
    )

    [message] = sent(dispatcher)
    assert "不提交" in message["text"]
    slots = slot_values(events)
    assert set(slots) == DRAFT_KEYS and slots["complaint_key"] is None and slots["complaint_text"] is None
    assert get_tickets(backend_url, "complaint-cancel") == []


async def test_stop_mid_form_drops_the_draft_but_keeps_the_guide(actions, dispatcher, domain):
    events = await actions.complaint_actions.ActionStopComplaint().run(dispatcher, load("complaint_stop"), domain)

    [message] = sent(dispatcher)
    assert "不提交" in message["text"]
    slots = slot_values(events)
    assert set(slots) == DRAFT_KEYS  # guide_id is not touched
    assert SlotSet("complaint_text", None) in events


# --- 4. status and 好差评 --------------------------------------------------------------------------------


async def test_status_shows_the_answer_and_offers_the_rating(actions, dispatcher, domain, backend_url, backend_database):
    no = answered_ticket(backend_url, backend_database, "complaint-status", "已为您加急办理，社保卡已寄出。")

    events = await actions.complaint_actions.ActionTicketStatus().run(dispatcher, load("complaint_status"), domain)

    messages = sent(dispatcher)
    assert events == []
    [card] = [m for m in messages if m["type"] == "ticket"]
    assert card["ticket"]["no"] == no and card["ticket"]["status"] == "已答复"
    assert any("已为您加急办理" in m.get("text", "") for m in messages)
    [rating] = [m for m in messages if m["type"] == "choices"]
    assert [c["title"] for c in rating["choices"]] == RATINGS
    assert payloads(rating)[3] == ("rate_ticket", {"ticket_no": no, "rating": "不满意"})
    assert_payloads_known([rating], domain)

    # 不满意 reopens the ticket: 已重新交办
    dispatcher.messages.clear()
    events = await actions.complaint_actions.ActionRateTicket().run(
        dispatcher, load("complaint_rate_button", **{"TS00000000-000000": no}), domain
    )
    [reply] = sent(dispatcher)
    assert "已重新交办" in reply["text"] and no in reply["text"]
    [stored] = get_tickets(backend_url, "complaint-status")
    assert stored["rating"] == "不满意" and stored["status"] == "办理中" and stored["can_rate"] is False

    # rated once: the same button again is refused politely
    dispatcher.messages.clear()
    await actions.complaint_actions.ActionRateTicket().run(
        dispatcher, load("complaint_rate_button", **{"TS00000000-000000": no}), domain
    )
    [again] = sent(dispatcher)
    assert "评价过" in again["text"] or "还没有答复" in again["text"]


async def test_status_without_tickets(actions, dispatcher, domain):
    tracker = load("complaint_status", **{"complaint-status": "complaint-nobody"})
    await actions.complaint_actions.ActionTicketStatus().run(dispatcher, tracker, domain)

    [message] = sent(dispatcher)
    assert "还没有提交过诉求" in message["text"]


# --- 5. the backend down -------------------------------------------------------------------------------


async def test_backend_down_says_sorry_and_keeps_the_draft(actions, dispatcher, domain, monkeypatch):
    client = actions.backend.BackendClient("http://127.0.0.1:9")  # discard: nothing listens there
    monkeypatch.setattr(actions.complaint_actions, "backend", client)
    try:
        events = await actions.complaint_actions.ActionSubmitComplaint().run(dispatcher, load("complaint_submit"), domain)
        assert [m["custom"] for m in dispatcher.messages] == [actions.common.SORRY]
        assert events == []  # the draft and its key stay: 确认提交 again retries the same ticket

        dispatcher.messages.clear()
        events = await actions.complaint_actions.ValidateComplaintForm().run(
            dispatcher, load("complaint_validate_phone_valid"), domain
        )
        assert [m["custom"] for m in dispatcher.messages] == [actions.common.SORRY]
        assert slot_values(events) == {"complaint_phone": None}  # asked again
    finally:
        if client._session is not None and not client._session.closed:
            await client._session.close()
