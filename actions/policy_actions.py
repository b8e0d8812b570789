"""Actions of 惠企政策 免申即享 and 企业绑定: list, open, 确认申领, 不适用, bind (form), unbind.

Thin like the complaint flow's: each forwards the user's id, the slots and the user's words (or the
button's match_id / uscc) to the backend's /api/v1/dialogue/policies endpoints and sends what comes
back. The binding form's validation is the backend's too: it starts the verification when the
统一社会信用代码 is right and checks the code the user gives back.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.backend import Reply, backend
from actions.common import BackendFormValidation, channel, entity, policy_state, user_text
from actions.guide_actions import BackendStepAction


class ActionListPolicies(BackendStepAction):
    """“我们公司能享受哪些政策”: the policies with reasons, or the offer to bind a company first."""

    def name(self) -> str:
        return "action_list_policies"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.policies_list(tracker.sender_id, user_text(tracker))


class PolicyStepAction(BackendStepAction):
    """One policy (`step`: open / confirm / decline), named by a button's match_id or the user's words."""

    policy_step = ""

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.policy_step(
            self.policy_step, tracker.sender_id, entity(tracker, "match_id"), policy_state(tracker), user_text(tracker)
        )


class ActionOpenPolicy(PolicyStepAction):
    policy_step = "open"

    def name(self) -> str:
        return "action_open_policy"


class ActionConfirmClaim(PolicyStepAction):
    policy_step = "confirm"

    def name(self) -> str:
        return "action_confirm_claim"


class ActionDeclineClaim(PolicyStepAction):
    policy_step = "decline"

    def name(self) -> str:
        return "action_decline_claim"


class ActionStartBinding(BackendStepAction):
    """“绑定企业” (perhaps with the code): fresh binding slots; `bind_status` says whether the form runs."""

    on_failure = (SlotSet("bind_status", "done"),)  # nothing to ask when the backend is down

    def name(self) -> str:
        return "action_start_binding"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.bind_start(tracker.sender_id, channel(tracker), user_text(tracker))


class BindAskAction(BackendStepAction):
    """The form's question for one slot (`action_ask_<slot>`)."""

    slot = ""

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.bind_prompt(self.slot, policy_state(tracker))


class ActionAskBindUscc(BindAskAction):
    slot = "bind_uscc"

    def name(self) -> str:
        return "action_ask_bind_uscc"


class ActionAskBindCode(BindAskAction):
    slot = "bind_code"

    def name(self) -> str:
        return "action_ask_bind_code"


class ActionBindingDone(BackendStepAction):
    """After the form: bound (and the policies right away), bound before, or not possible now."""

    def name(self) -> str:
        return "action_binding_done"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.bind_done(tracker.sender_id, policy_state(tracker))


class ActionStopBinding(BackendStepAction):
    """“算了” in the middle of binding."""

    def name(self) -> str:
        return "action_stop_binding"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.bind_stop()


class ActionUnbindCompany(BackendStepAction):
    """“解绑企业”: a button per bound company; the button (uscc) unbinds it."""

    def name(self) -> str:
        return "action_unbind_company"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.unbind(tracker.sender_id, entity(tracker, "uscc"), user_text(tracker))


class ValidateBindingForm(BackendFormValidation):
    """Interpret the 统一社会信用代码 and the verification code the user typed or tapped."""

    answered_slots = ("bind_uscc", "bind_code")

    def name(self) -> str:
        return "validate_binding_form"

    async def interpret(self, slot: str, tracker: Tracker) -> Reply:
        return await backend.bind_interpret(
            slot, tracker.sender_id, channel(tracker), policy_state(tracker), user_text(tracker), entity(tracker, "choice")
        )
