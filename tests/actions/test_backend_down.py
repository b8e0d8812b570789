"""When the backend cannot answer, every action says the polite SORRY and never raises (an action
that raises makes the action server answer 500 and the user hears nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from rasa_sdk.events import SlotSet, UserUtteranceReverted

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: nothing listens there

CASES = [
    ("guide_actions", "ActionIdentifyGuide", "identify_newborn", [SlotSet("guide_status", "none")]),
    ("guide_actions", "ActionAskGuideItems", "ask_items_newborn", []),
    ("guide_actions", "ActionAskGuideQuestion", "ask_question_newborn", []),
    ("guide_actions", "ValidateGuideForm", "validate_items_numbers", [SlotSet("guide_items", None)]),
    ("guide_actions", "ValidateGuideForm", "validate_question_married", [SlotSet("guide_question", None)]),
    ("guide_actions", "ActionSendChecklist", "checklist_newborn", []),
    ("guide_actions", "ActionExplainMaterial", "explain_marriage", []),
    ("reply_actions", "ActionGreet", "reply_greet", []),
    ("reply_actions", "ActionStopGuide", "reply_stop", []),
    ("reply_actions", "ActionDefaultFallback", "reply_fallback", [UserUtteranceReverted()]),
    ("policy_actions", "ActionListPolicies", "policy_list", []),
    ("policy_actions", "ActionConfirmClaim", "policy_confirm_typed", []),
    ("policy_actions", "ActionStartBinding", "binding_start_with_code", [SlotSet("bind_status", "done")]),
    ("policy_actions", "ValidateBindingForm", "binding_validate_uscc_bad", [SlotSet("bind_uscc", None)]),
    ("policy_actions", "ActionBindingDone", "binding_done", []),
]


def use_backend(actions, monkeypatch, client) -> None:
    monkeypatch.setattr(actions.guide_actions, "backend", client)
    monkeypatch.setattr(actions.reply_actions, "backend", client)
    monkeypatch.setattr(actions.policy_actions, "backend", client)


async def close(client) -> None:
    if client._session is not None and not client._session.closed:
        await client._session.close()


@pytest_asyncio.fixture(loop_scope="session")
async def down(actions, monkeypatch) -> AsyncIterator[object]:
    """The action modules' backend replaced by a client of a closed port."""
    client = actions.backend.BackendClient(CLOSED_PORT_URL)
    use_backend(actions, monkeypatch, client)
    yield client
    await close(client)


@pytest.mark.parametrize(("module", "action", "fixture", "expected"), CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
async def test_backend_down_says_sorry(actions, down, dispatcher, tracker, domain, module, action, fixture, expected):
    events = await getattr(getattr(actions, module), action)().run(dispatcher, tracker(fixture), domain)

    assert [m["custom"] for m in dispatcher.messages] == [actions.common.SORRY]
    assert events == expected


@pytest_asyncio.fixture(loop_scope="session")
async def hung(actions, monkeypatch) -> AsyncIterator[object]:
    """A backend that accepts the connection and never answers; the client gives up after 0.5 s."""

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(actions.backend, "TIMEOUT", aiohttp.ClientTimeout(total=0.5))
    client = actions.backend.BackendClient(f"http://127.0.0.1:{port}")
    use_backend(actions, monkeypatch, client)
    yield client
    await close(client)
    server.close()
    await server.wait_closed()


async def test_backend_timeout_says_sorry(actions, hung, dispatcher, tracker, domain):
    events = await actions.guide_actions.ActionIdentifyGuide().run(dispatcher, tracker("identify_newborn"), domain)

    assert [m["custom"] for m in dispatcher.messages] == [actions.common.SORRY]
    assert events == [SlotSet("guide_status", "none")]
