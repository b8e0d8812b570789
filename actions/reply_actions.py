"""Actions that only say something: the wording comes from guides/templates/replies.yml."""

from __future__ import annotations

import abc
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend import BackendError, Reply, backend
from actions.common import SORRY, flow_state, send, slot_events, user_text

log = logging.getLogger(__name__)


class BackendReplyAction(Action, abc.ABC):
    """Say the reply named `key`; subclasses set the action name and the key."""

    key = ""

    @abc.abstractmethod
    def name(self) -> str: ...

    async def fetch(self, tracker: Tracker) -> Reply:
        return await backend.reply(self.key, flow_state(tracker))

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            reply = await self.fetch(tracker)
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
    """“换一个事项”: drop the guide in progress; start the one named (“换成办退休的”), else ask which one.

    It sets guide_status to found when it started one, and the rules go on into the guide form.
    """

    key = "switch"

    def name(self) -> str:
        return "action_switch_guide"

    async def fetch(self, tracker: Tracker) -> Reply:
        return await backend.switch(flow_state(tracker), user_text(tracker))


class ActionDefaultFallback(BackendReplyAction):
    """When the policies are unsure: say so, offer choices, and forget the unclear message."""

    key = "fallback"

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*events, UserUtteranceReverted()]
