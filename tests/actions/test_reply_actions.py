"""Actions that only say something (wording from guides/templates/replies.yml), and the ones that
also drop the guide in progress."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from action_helpers import sent
from rasa_sdk.events import SlotSet, UserUtteranceReverted

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]

# 算了 / 换一个: the whole flow is dropped (answers back to empty, as after a fresh start)
DROPPED = {
    "guide_id": None,
    "guide_status": None,
    "guide_items": None,
    "guide_question": None,
    "items_draft": None,
    "answers": {},
    "pending_question": None,
}


def slot_values(events: list[dict]) -> dict[str, Any]:
    assert all(event["event"] == "slot" for event in events), events
    values = {event["name"]: event["value"] for event in events}
    assert len(values) == len(events), f"a slot set twice: {events}"
    assert events == [SlotSet(name, value) for name, value in values.items()]
    return values


def featured_ids() -> list[str]:
    return yaml.safe_load((ROOT / "guides" / "templates" / "replies.yml").read_text(encoding="utf-8"))["featured"]


def assert_offers_featured(message: dict, domain: dict) -> None:
    """A choices message: the featured 一件事 as /ask_guide buttons, then “看看能办哪些事”."""
    assert message["type"] == "choices"
    intents = set(domain["intents"])
    guide_ids = []
    for choice in message["choices"]:
        match = re.fullmatch(r"/(\w+)(\{.*\})?", choice["payload"])
        assert match and match.group(1) in intents, choice
        entities = json.loads(match.group(2) or "{}")
        assert set(entities) <= set(domain["entities"]), choice
        if match.group(1) == "ask_guide":
            assert choice["guide"]["id"] == entities["guide_id"]
            guide_ids.append(entities["guide_id"])
    assert guide_ids == featured_ids()
    assert message["choices"][-1]["payload"] == "/help"


async def test_greet(actions, dispatcher, tracker, domain, replies):
    events = await actions.reply_actions.ActionGreet().run(dispatcher, tracker("reply_greet"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["text"] == replies["greet"]
    assert_offers_featured(messages[0], domain)
    assert events == []


async def test_help_lists_every_guide(actions, dispatcher, tracker, domain):
    events = await actions.reply_actions.ActionHelp().run(dispatcher, tracker("reply_help"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    titles = []  # every guide file's top-level title (a regex: parsing all guides with PyYAML is slow)
    for path in sorted((ROOT / "guides").glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^items:", text, re.M) and (title := re.search(r"^title:\s*(\S.*?)\s*$", text, re.M)):
            titles.append(title.group(1))
    assert len(titles) > 1
    assert f"{len(titles)}件事" in messages[0]["text"]
    for title in titles:
        assert f"· {title}" in messages[0]["text"]
    assert_offers_featured(messages[0], domain)
    assert events == []


async def test_stop_drops_the_guide(actions, dispatcher, tracker, domain, replies):
    events = await actions.reply_actions.ActionStopGuide().run(dispatcher, tracker("reply_stop"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["type"] == "text"
    assert messages[0]["text"] == replies["stopped"]
    assert slot_values(events) == DROPPED


async def test_switch_drops_the_guide_and_asks_again(actions, dispatcher, tracker, domain, replies):
    events = await actions.reply_actions.ActionSwitchGuide().run(dispatcher, tracker("reply_switch"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["text"] == replies["switch"]
    assert_offers_featured(messages[0], domain)
    assert slot_values(events) == DROPPED


async def test_switch_that_names_the_new_matter_starts_it(actions, dispatcher, tracker, domain):
    events = await actions.reply_actions.ActionSwitchGuide().run(dispatcher, tracker("reply_switch_named"), domain)

    messages = sent(dispatcher)
    assert "退休一件事" in messages[0]["text"]
    assert all(msg["guide"]["id"] == "retirement" for msg in messages)
    slots = slot_values(events)
    assert slots["guide_id"] == "retirement" and slots["guide_status"] == "found"
    assert slots["answers"] == {} and slots["guide_items"] is None and slots["pending_question"] is None


async def test_default_fallback_reverts_the_user_message(actions, dispatcher, tracker, domain, replies):
    events = await actions.reply_actions.ActionDefaultFallback().run(dispatcher, tracker("reply_fallback"), domain)

    messages = sent(dispatcher)
    assert len(messages) == 1
    assert messages[0]["text"] == replies["fallback"]
    assert_offers_featured(messages[0], domain)
    assert events == [UserUtteranceReverted()]  # last (and only: the fallback reply sets no slot)
