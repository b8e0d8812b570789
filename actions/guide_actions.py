"""Actions of the guided 一件事 flow: identify, ask, validate, send the 一次告知, explain."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend import BackendError, backend
from actions.common import SORRY, entity, flow_state, send, slot_events, user_text

log = logging.getLogger(__name__)


class ActionIdentifyGuide(Action):
    """Name the 一件事 the user means, or offer the closest ones."""

    def name(self) -> str:
        return "action_identify_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await backend.identify(user_text(tracker), entity(tracker, "guide_id"))
        except BackendError as exc:
            log.error("identify failed: %s", exc)
            dispatcher.utter_message(json_message=SORRY)
            return [SlotSet("guide_status", "none")]
        send(dispatcher, reply)
        return slot_events(reply)




class ActionAskGuideItems(Action):
    """Show the sub-items (涉及事项) and let the user take all or some."""

    def name(self) -> str:
        return "action_ask_guide_items"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await backend.items_prompt(flow_state(tracker))
        except BackendError as exc:
            log.error("items prompt failed: %s", exc)
            dispatcher.utter_message(json_message=SORRY)
            return []
        send(dispatcher, reply)
        return slot_events(reply)


class ActionAskGuideQuestion(Action):
    """Ask the next question whose answer changes the checklist."""

    def name(self) -> str:
        return "action_ask_guide_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await backend.question_prompt(flow_state(tracker))
        except BackendError as exc:
            log.error("question prompt failed: %s", exc)
            dispatcher.utter_message(json_message=SORRY)
            return []
        send(dispatcher, reply)
        return slot_events(reply)


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


class ActionSendChecklist(Action):
    """Send the 一次告知: every material, 免 / 容缺 / to bring, the time limit and where to go."""

    def name(self) -> str:
        return "action_send_checklist"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await backend.checklist(flow_state(tracker), tracker.sender_id)
        except BackendError as exc:
            log.error("checklist failed: %s", exc)
            dispatcher.utter_message(json_message=SORRY)
            return []
        send(dispatcher, reply)
        return slot_events(reply)


class ActionExplainMaterial(Action):
    """Answer “为什么要结婚证” from the current guide's material data."""

    def name(self) -> str:
        return "action_explain_material"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await backend.explain(flow_state(tracker), user_text(tracker))
        except BackendError as exc:
            log.error("explain failed: %s", exc)
            dispatcher.utter_message(json_message=SORRY)
            return []
        send(dispatcher, reply)
        return slot_events(reply)
