"""The guided 一件事 flow: identify, ask the sub-items, validate the form, the 一次告知, explain.

Each test: a tracker from fixtures/<name>.json, one action run against the real backend, then the
json_messages the CollectingDispatcher collected and the events the action returned.
"""

from __future__ import annotations

import json
import re

import pytest
from action_helpers import sent, slot_values
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEWBORN = {"id": "newborn", "title": "新生儿出生一件事"}
FLOW_RESET = {"guide_items": None, "guide_question": None, "items_draft": None, "answers": {}, "pending_question": None}


def assert_payloads_known(messages: list[dict], domain: dict) -> None:
    """Button payloads may only name intents and entities the domain knows."""
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    for message in messages:
        for choice in message.get("choices", []):
            match = re.fullmatch(r"/(\w+)(\{.*\})?", choice["payload"])
            assert match, choice
            assert match.group(1) in intents, choice
            entities = json.loads(match.group(2) or "{}")
            assert set(entities) <= set(domain["entities"]), choice


# --- 1. identify -------------------------------------------------------------------------------------


async def test_identify_newborn_from_plain_words(actions, dispatcher, tracker, domain):
    events = await actions.guide_actions.ActionIdentifyGuide().run(dispatcher, tracker("identify_newborn"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["type"] == "text"
    assert "新生儿出生一件事" in messages[0]["text"]
    assert messages[0]["guide"] == NEWBORN
    # the retirement flow left in the slots is dropped
    assert slot_values(events) == {"guide_id": "newborn", "guide_status": "found", **FLOW_RESET}


@pytest.mark.parametrize(
    ("fixture", "status"),
    [("identify_unclear", "ambiguous"), ("identify_unknown", "none")],
)
async def test_identify_unclear_text_offers_choices(actions, dispatcher, tracker, domain, fixture, status):
    events = await actions.guide_actions.ActionIdentifyGuide().run(dispatcher, tracker(fixture), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["type"] == "choices"
    guide_choices = [c for c in messages[0]["choices"] if c["payload"].startswith("/ask_guide")]
    assert len(guide_choices) >= 2
    assert any(c["payload"] == "/help" for c in messages[0]["choices"])
    assert_payloads_known(messages, domain)
    assert events == [SlotSet("guide_status", status)]  # no guide chosen, the flow untouched


async def test_identify_from_button_payload_entity(actions, dispatcher, tracker, domain):
    events = await actions.guide_actions.ActionIdentifyGuide().run(dispatcher, tracker("identify_payload_retirement"), domain)

    messages = sent(dispatcher)
    assert [m["type"] for m in messages] == ["text"]
    assert messages[0]["guide"] == {"id": "retirement", "title": "退休一件事"}
    assert "退休一件事" in messages[0]["text"]
    assert slot_values(events) == {"guide_id": "retirement", "guide_status": "found", **FLOW_RESET}


# --- 2. ask the sub-items --------------------------------------------------------------------------------


async def test_ask_items_offers_all_or_some(actions, dispatcher, tracker, domain, newborn):
    events = await actions.guide_actions.ActionAskGuideItems().run(dispatcher, tracker("ask_items_newborn"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    message = messages[0]
    assert message["type"] == "choices"
    assert message["guide"] == NEWBORN
    for n, item in enumerate(newborn["items"], 1):
        assert f"{n}. {item['title']}" in message["text"]
    payloads = [c["payload"] for c in message["choices"]]
    assert '/choose{"choice": "all"}' in payloads
    assert '/choose{"choice": "some"}' in payloads
    take_all = next(c for c in message["choices"] if '"all"' in c["payload"])
    assert f"{sum(not i.get('optional') for i in newborn['items'])}项" in take_all["title"]
    assert all(c["guide"] == NEWBORN for c in message["choices"])
    assert_payloads_known(messages, domain)
    assert events == []


async def test_ask_first_question(actions, dispatcher, tracker, domain, newborn):
    events = await actions.guide_actions.ActionAskGuideQuestion().run(dispatcher, tracker("ask_question_newborn"), domain)

    question = newborn["questions"][0]  # married: the first whose answer changes the checklist
    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["type"] == "choices"
    assert messages[0]["guide"] == NEWBORN
    assert messages[0]["text"].startswith(question["text"])
    assert [c["title"] for c in messages[0]["choices"]] == [c["title"] for c in question["choices"]]
    assert [c["payload"] for c in messages[0]["choices"]] == [f'/choose{{"choice": "{c["value"]}"}}' for c in question["choices"]]
    assert_payloads_known(messages, domain)
    assert events == [SlotSet("pending_question", question["id"])]


# --- 3. validate the form ---------------------------------------------------------------------------------


async def test_form_slots_to_validate_come_from_the_fixture_events(actions, tracker):
    """The fixtures end like the temporary tracker Rasa hands the validation action."""
    assert tracker("validate_items_numbers").slots_to_validate() == {"guide_items": "1 3"}
    assert tracker("validate_question_married").slots_to_validate() == {"guide_question": '/choose{"choice": "married"}'}


async def test_validate_items_all(actions, dispatcher, tracker, domain, newborn):
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_items_all"), domain)

    required = [i["id"] for i in newborn["items"] if not i.get("optional")]
    assert slot_values(events) == {
        "guide_items": required,
        "items_draft": None,
        "guide_question": None,  # newborn has questions: the form asks guide_question next
        "pending_question": None,
    }
    messages = sent(dispatcher)
    assert [m["type"] for m in messages] == ["text"]
    assert messages[0]["guide"] == NEWBORN
    for item in newborn["items"]:
        assert (item["short_title"] in messages[0]["text"]) == (item["id"] in required)


async def test_validate_items_typed_numbers(actions, dispatcher, tracker, domain, newborn):
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_items_numbers"), domain)

    first, third = newborn["items"][0], newborn["items"][2]
    values = slot_values(events)
    assert values["guide_items"] == [first["id"], third["id"]]
    assert values["items_draft"] is None
    assert values["pending_question"] is None
    assert values["guide_question"] is None  # 户口登记 depends on the answers
    messages = sent(dispatcher)
    assert [m["type"] for m in messages] == ["text"]
    assert first["short_title"] in messages[0]["text"] and third["short_title"] in messages[0]["text"]
    assert messages[0]["guide"] == NEWBORN


async def test_validate_items_nonsense_explains(actions, dispatcher, tracker, domain, replies):
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_items_nonsense"), domain)

    assert events == [SlotSet("guide_items", None)]  # the form asks again
    assert sent(dispatcher) == [{"type": "text", "text": replies["items_not_understood"], "guide": NEWBORN}]


async def test_validate_items_picked_one_by_one(actions, dispatcher, tracker, domain):
    """“只办其中几项”: each tap toggles one item in the draft; the raw guide_items text is not a list."""
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_items_pick"), domain)

    assert slot_values(events) == {"guide_items": None, "items_draft": ["birth_certificate", "vaccination"]}
    assert sent(dispatcher) == []


async def test_validate_items_switch_by_button(actions, dispatcher, tracker, domain):
    """A tap on another 一件事 during the form switches to it (the guide_id entity reaches the backend)."""
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_items_switch"), domain)

    retirement = {"id": "retirement", "title": "退休一件事"}
    messages = sent(dispatcher)
    assert [m["type"] for m in messages] == ["text", "text"]
    assert all(m["guide"] == retirement for m in messages)
    assert "退休一件事" in messages[0]["text"]
    assert slot_values(events) == {"guide_id": "retirement", "guide_status": "found", **FLOW_RESET}


async def test_validate_question_answered_more_to_ask(actions, dispatcher, tracker, domain):
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_question_married"), domain)

    assert slot_values(events) == {
        "guide_question": None,  # more to ask: hukou_follow comes next
        "answers": {"married": "married"},
        "pending_question": None,
    }
    assert sent(dispatcher) == []


async def test_validate_question_typed_answer(actions, dispatcher, tracker, domain):
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_question_typed"), domain)

    assert slot_values(events) == {"guide_question": None, "answers": {"married": "married"}, "pending_question": None}
    assert sent(dispatcher) == []


async def test_validate_last_question_completes_the_form(actions, dispatcher, tracker, domain):
    events = await actions.guide_actions.ValidateGuideForm().run(dispatcher, tracker("validate_question_last"), domain)

    assert slot_values(events) == {
        "guide_question": "done",
        "answers": {"married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "insured"},
        "pending_question": None,
    }
    assert sent(dispatcher) == []


# --- 4. the 一次告知 ------------------------------------------------------------------------------------------


async def test_send_checklist(actions, dispatcher, tracker, domain):
    state = tracker("checklist_newborn")
    events = await actions.guide_actions.ActionSendChecklist().run(dispatcher, state, domain)

    messages = sent(dispatcher)
    assert [m["type"] for m in messages] == ["checklist", "link", "text"]
    checklist, link, after = messages
    assert link["url"].startswith("/notices/") and link["guide"] == NEWBORN  # stored, printable
    assert checklist["guide"] == NEWBORN
    assert [i["id"] for i in checklist["items"]] == state.get_slot("guide_items")
    assert checklist["not_applicable"] == []

    materials = checklist["materials"]
    stats = checklist["stats"]
    assert stats["total"] == len(materials) > 0
    assert stats["exempt"] == sum(m["exempt"] for m in materials) >= 1
    assert stats["to_submit"] == stats["total"] - stats["exempt"]
    assert stats["deferrable"] == sum(m["deferrable"] and not m["exempt"] for m in materials)
    for material in materials:
        assert bool(material["exempt_reason"]) == material["exempt"], material
        assert not material["conditional"], material  # every question was answered
    ids = {m["id"] for m in materials}
    # married, hukou with the father: the father's 户口簿 and the 结婚证, no 非婚生育 statement
    assert {"marriage_certificate", "hukou_book_father"} <= ids
    assert not ids & {"hukou_book_mother", "nonmarital_statement"}
    assert len(checklist["answers"]) == len(state.get_slot("answers"))

    assert after["guide"] == NEWBORN
    assert f"共{stats['total']}项" in after["text"]
    assert f"{stats['exempt']}项标“免”" in after["text"]
    assert slot_values(events) == {
        "guide_status": None,
        "guide_items": None,
        "guide_question": None,
        "last_items": state.get_slot("guide_items"),
    }


# --- 5. explain -----------------------------------------------------------------------------------------------


async def test_explain_marriage_certificate(actions, dispatcher, tracker, domain):
    events = await actions.guide_actions.ActionExplainMaterial().run(dispatcher, tracker("explain_marriage"), domain)

    messages = sent(dispatcher)
    assert [m["type"] for m in messages] == ["text"]
    assert "结婚证" in messages[0]["text"]
    assert "免" in messages[0]["text"]  # shared electronically: no need to bring it
    assert messages[0]["guide"] == NEWBORN
    assert events == []


async def test_explain_after_checklist_agrees_with_the_checklist(actions, tracker, domain):
    """A retiree only withdrawing the housing fund must bring the 退休证: the checklist says so, and
    “为什么要退休证” right after must not say it is 免."""
    checklist_dispatcher = CollectingDispatcher()
    done = tracker("checklist_retirement_fund")
    events = await actions.guide_actions.ActionSendChecklist().run(checklist_dispatcher, done, domain)
    checklist = checklist_dispatcher.messages[0]["custom"]
    assert checklist["type"] == "checklist"
    approval = next(m for m in checklist["materials"] if m["id"] == "retirement_approval")
    assert not approval["exempt"]  # its producer, 养老金核定发放, is not among the chosen items

    after = tracker("explain_after_checklist")
    for name, value in slot_values(events).items():  # the fixture is the state the checklist left
        assert after.get_slot(name) == value, name
    explain_dispatcher = CollectingDispatcher()
    assert await actions.guide_actions.ActionExplainMaterial().run(explain_dispatcher, after, domain) == []
    messages = sent(explain_dispatcher)
    assert [m["type"] for m in messages] == ["text"]
    assert approval["name"] in messages[0]["text"]
    assert "免提交" not in messages[0]["text"], messages[0]["text"]
