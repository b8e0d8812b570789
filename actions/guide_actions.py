"""Actions of the guided 一件事 flow: identify, ask, validate, send the 一次告知, explain."""

from __future__ import annotations

import abc
import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend import BackendError, Reply, backend
from actions.common import SORRY, entity, flow_state, send, slot_events, user_text

log = logging.getLogger(__name__)


class BackendStepAction(Action, abc.ABC):
    """One step of the flow: ask the backend, send what it says, set the slots it returns."""

    # Events to return when the backend cannot be reached (the user gets SORRY either way).
    on_failure: tuple[EventType, ...] = ()

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    async def step(self, tracker: Tracker) -> Reply: ...

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await self.step(tracker)
        except BackendError as exc:
            log.error("%s failed: %s", self.name(), exc)
            dispatcher.utter_message(json_message=SORRY)
            return list(self.on_failure)
        send(dispatcher, reply)
        return slot_events(reply)


class ActionIdentifyGuide(BackendStepAction):
    """Name the 一件事 the user means, or offer the closest ones."""

    on_failure = (SlotSet("guide_status", "none"),)

    def name(self) -> str:
        return "action_identify_guide"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.identify(user_text(tracker), entity(tracker, "guide_id"))


class ActionAskGuideItems(BackendStepAction):
    """Show the sub-items (涉及事项) and let the user take all or some."""

    def name(self) -> str:
        return "action_ask_guide_items"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.items_prompt(flow_state(tracker))


class ActionAskGuideQuestion(BackendStepAction):
    """Ask the next question whose answer changes the checklist."""

    def name(self) -> str:
        return "action_ask_guide_question"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.question_prompt(flow_state(tracker))


class ActionSendChecklist(BackendStepAction):
    """Send the 一次告知: every material, 免 / 容缺 / to bring, the time limit and where to go."""

    def name(self) -> str:
        return "action_send_checklist"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.checklist(flow_state(tracker), tracker.sender_id)


class ActionExplainMaterial(BackendStepAction):
    """Answer “为什么要结婚证” after the checklist (during the questions the form's validation does it)."""

    def name(self) -> str:
        return "action_explain_material"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.explain(flow_state(tracker), user_text(tracker))


class ValidateGuideForm(FormValidationAction):
    """Interpret what the user typed or tapped for the sub-items and for each question."""

    def name(self) -> str:
        return "validate_guide_form"

    async def _interpret(self, method: Any, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str) -> dict:
        # rasa_sdk also offers the slots our own actions just reset (at form activation); only
        # what the user said for the slot being asked is an answer to interpret.
        if tracker.get_slot(slot) is None or tracker.get_slot("requested_slot") != slot:
            return {}
        try:
            reply = await method(
                flow_state(tracker), user_text(tracker), entity(tracker, "choice"), entity(tracker, "guide_id")
            )
        except BackendError as exc:
            log.error("interpret failed: %s", exc)
            dispatcher.utter_message(json_message=SORRY)
            return {slot: None}
        send(dispatcher, reply)
        return reply.slots

    async def validate_guide_items(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._interpret(backend.items_interpret, dispatcher, tracker, "guide_items")

    async def validate_guide_question(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._interpret(backend.question_interpret, dispatcher, tracker, "guide_question")
