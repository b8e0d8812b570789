"""Reading the tracker and writing a backend Reply back as dispatcher messages and events."""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend import COMPLAINT_SLOTS, FLOW_SLOTS, POLICY_SLOTS, BackendError, Reply

log = logging.getLogger(__name__)

SORRY = {"type": "text", "text": "系统有点忙，请稍后再试一次。您刚才的进度已经保存。"}


def flow_state(tracker: Tracker) -> dict[str, Any]:
    state = {name: tracker.get_slot(name) for name in FLOW_SLOTS}
    if not isinstance(state.get("answers"), dict):
        state["answers"] = {}
    for name in ("guide_items", "items_draft", "last_items"):
        if state.get(name) is not None and not isinstance(state[name], list):
            state[name] = None  # a raw text the form extracted, not yet validated
    return state


def complaint_state(tracker: Tracker) -> dict[str, Any]:
    return {name: tracker.get_slot(name) for name in COMPLAINT_SLOTS}


def policy_state(tracker: Tracker) -> dict[str, Any]:
    return {name: tracker.get_slot(name) for name in POLICY_SLOTS}


CHANNELS = ("web", "wechat", "mp")


def channel(tracker: Tracker) -> str:
    """The channel the user wrote through: the bot passes it as the REST message's metadata."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    value = metadata.get("channel") if isinstance(metadata, dict) else None
    return value if value in CHANNELS else "web"


def user_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def entity(tracker: Tracker, name: str) -> str | None:
    return next(tracker.get_latest_entity_values(name), None)


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    for message in reply.messages:
        dispatcher.utter_message(json_message=message)


def slot_events(reply: Reply) -> list[EventType]:
    return [SlotSet(name, value) for name, value in reply.slots.items()]


class BackendFormValidation(FormValidationAction, abc.ABC):
    """A form whose answers the backend interprets: send what it says, set the slots it returns.

    A subclass lists its ``answered_slots``; each gets the ``validate_<slot>`` method rasa_sdk
    looks for, all doing the same thing (``answer``), so none is written out by hand.
    """

    answered_slots: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for slot in cls.answered_slots:
            setattr(cls, f"validate_{slot}", _validator(slot))

    @abc.abstractmethod
    async def interpret(self, slot: str, tracker: Tracker) -> Reply: ...

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str) -> dict[str, Any]:
        # Only what the user said for the slot being asked is an answer: rasa_sdk also offers the
        # slots a start action pre-filled when the form was activated.
        if tracker.get_slot(slot) is None or tracker.get_slot("requested_slot") != slot:
            return {}
        try:
            reply = await self.interpret(slot, tracker)
        except BackendError as exc:
            log.error("%s: interpreting %s failed: %s", self.name(), slot, exc)
            dispatcher.utter_message(json_message=SORRY)
            return {slot: None}
        send(dispatcher, reply)
        return reply.slots


def _validator(slot: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def validate(
        self: BackendFormValidation, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        return await self.answer(dispatcher, tracker, slot)

    validate.__name__ = validate.__qualname__ = f"validate_{slot}"
    return validate
