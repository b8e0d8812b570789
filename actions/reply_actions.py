"""Actions that only say something: the wording comes from guides/templates/replies.yml."""

from __future__ import annotations

import abc
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend import BackendError, backend
from actions.common import SORRY, flow_state, send, slot_events

log = logging.getLogger(__name__)


class BackendReplyAction(Action, abc.ABC):
    """Say the reply named `key`; subclasses set the action name and the key."""

    key = ""

    @abc.abstractmethod
    def name(self) -> str: ...

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await backend.reply(self.key, flow_state(tracker))
        except BackendError as exc:
            log.error("reply %s failed: %s", self.key, exc)
            dispatcher.utter_message(json_message=SORRY)
            return []
        send(dispatcher, reply)
        return slot_events(reply)


class ActionGreet(BackendReplyAction):
    key = "greet"

    def name(self) -> str:
        return "action_greet"


class ActionHelp(BackendReplyAction):
    key = "help"

    def name(self) -> str:
        return "action_help"


class ActionGoodbye(BackendReplyAction):
    key = "goodbye"

    def name(self) -> str:
        return "action_goodbye"


class ActionThank(BackendReplyAction):
    key = "thank"

    def name(self) -> str:
        return "action_thank"


class ActionAcknowledge(BackendReplyAction):
    key = "acknowledge"

    def name(self) -> str:
        return "action_acknowledge"


class ActionOutOfScope(BackendReplyAction):
    key = "out_of_scope"

    def name(self) -> str:
        return "action_out_of_scope"


class ActionStopGuide(BackendReplyAction):
    """“算了”: drop the guide in progress."""

    key = "stopped"

    def name(self) -> str:
        return "action_stop_guide"


class ActionSwitchGuide(BackendReplyAction):
    """“换一个事项”: drop the guide in progress and ask which one instead."""

    key = "switch"

    def name(self) -> str:
        return "action_switch_guide"


class ActionDefaultFallback(BackendReplyAction):
    """When the policies are unsure: say so, offer choices, and forget the unclear message."""

    key = "fallback"

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*events, UserUtteranceReverted()]
