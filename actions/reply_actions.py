"""Actions that only say something: the wording comes from guides/templates/replies.yml."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend import BackendError, backend
from actions.common import SORRY, flow_state, send, slot_events

log = logging.getLogger(__name__)


class BackendReplyAction(Action):
    """Say the reply named `key`; subclasses set the action name and the key."""

    action_name = ""
    key = ""

    def name(self) -> str:
        return self.action_name

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
    action_name, key = "action_greet", "greet"


class ActionHelp(BackendReplyAction):
    action_name, key = "action_help", "help"


class ActionGoodbye(BackendReplyAction):
    action_name, key = "action_goodbye", "goodbye"


class ActionThank(BackendReplyAction):
    action_name, key = "action_thank", "thank"


class ActionAcknowledge(BackendReplyAction):
    action_name, key = "action_acknowledge", "acknowledge"


class ActionOutOfScope(BackendReplyAction):
    action_name, key = "action_out_of_scope", "out_of_scope"


class ActionStopGuide(BackendReplyAction):
    """“算了”: drop the guide in progress."""

    action_name, key = "action_stop_guide", "stopped"


class ActionSwitchGuide(BackendReplyAction):
    """“换一个事项”: drop the guide in progress and ask which one instead."""

    action_name, key = "action_switch_guide", "switch"


class ActionDefaultFallback(BackendReplyAction):
    """When the policies are unsure: say so, offer choices, and forget the unclear message."""

    action_name, key = "action_default_fallback", "fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*events, UserUtteranceReverted()]
