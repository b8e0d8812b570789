"""Helpers the action tests share: the tracker fixtures, what an action dispatched and returned.

The action tests run in the Rasa venv, where tests/actions is not a package: import this module
as ``action_helpers``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from rasa_sdk import Tracker

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"


def sent(dispatcher) -> list[dict[str, Any]]:
    """The json_messages dispatched; the actions send nothing else (no text, buttons, responses)."""
    for message in dispatcher.messages:
        assert message["text"] is None and not message["buttons"] and message["response"] is None, message
        assert message["custom"], message
    return [message["custom"] for message in dispatcher.messages]


def slot_values(events: list[dict]) -> dict[str, Any]:
    assert all(event["event"] == "slot" for event in events), events
    values = {event["name"]: event["value"] for event in events}
    assert len(values) == len(events), f"a slot set twice: {events}"
    return values


def payloads(message: dict) -> list[tuple[str, dict[str, str]]]:
    result = []
    for choice in message["choices"]:
        match = re.fullmatch(r"/(\w+)(\{.*\})?", choice["payload"])
        assert match, choice
        result.append((match.group(1), json.loads(match.group(2) or "{}")))
    return result


def assert_payloads_known(messages: list[dict], domain: dict) -> None:
    intents = set(domain["intents"])
    for message in messages:
        for intent, entities in payloads(message) if message["type"] == "choices" else []:
            assert intent in intents, (intent, message)
            assert set(entities) <= set(domain["entities"]), (entities, message)


def load(name: str, **replace: str) -> Tracker:
    """A tracker from fixtures/<name>.json, with placeholders (e.g. the ticket number) replaced."""
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    return Tracker.from_dict(json.loads(text))


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
