"""Actions of the complaint flow (有诉即办): start, ask, validate, submit, stop, status, 好差评.

Thin like the guide flow's: each forwards the slots and the user's words to the backend's
/api/v1/dialogue/complaint endpoints and sends what comes back. The backend makes the idempotency
key when the form starts; it travels in the `complaint_key` slot, so a retried or double-tapped
“确认提交” gives one ticket.
"""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.backend import Reply, backend
from actions.common import BackendFormValidation, channel, complaint_state, entity, user_text
from actions.guide_actions import BackendStepAction


class ActionStartComplaint(BackendStepAction):
    """“跑了三趟都没办成”, “我要举报”: a fresh draft; the first message is the complaint when it says what happened."""

    def name(self) -> str:
        return "action_start_complaint"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.complaint_start(complaint_state(tracker), user_text(tracker))


class ComplaintAskAction(BackendStepAction):
    """The form's question for one slot (`action_ask_<slot>`)."""

    slot = ""

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.complaint_prompt(self.slot, complaint_state(tracker))


class ActionAskComplaintText(ComplaintAskAction):
    slot = "complaint_text"

    def name(self) -> str:
        return "action_ask_complaint_text"


class ActionAskComplaintSubject(ComplaintAskAction):
    slot = "complaint_subject"

    def name(self) -> str:
        return "action_ask_complaint_subject"


class ActionAskComplaintPlace(ComplaintAskAction):
    slot = "complaint_place"

    def name(self) -> str:
        return "action_ask_complaint_place"


class ActionAskComplaintPhone(ComplaintAskAction):
    slot = "complaint_phone"

    def name(self) -> str:
        return "action_ask_complaint_phone"


class ActionAskComplaintConfirm(ComplaintAskAction):
    """The read-back (确认提交 / 修改 / 算了), or which field to change after 修改."""

    slot = "complaint_confirm"

    def name(self) -> str:
        return "action_ask_complaint_confirm"


class ActionSubmitComplaint(BackendStepAction):
    """After the read-back: submit (or drop, after 算了); also a 确认提交 tapped again later, which is a retry."""

    def name(self) -> str:
        return "action_submit_complaint"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.complaint_submit(
            complaint_state(tracker), tracker.sender_id, channel(tracker), entity(tracker, "choice")
        )


class ActionStopComplaint(BackendStepAction):
    """“算了” in the middle of the complaint form: drop the draft."""

    def name(self) -> str:
        return "action_stop_complaint"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.complaint_stop(complaint_state(tracker))


class ActionTicketStatus(BackendStepAction):
    """“我的投诉怎么样了”: the user's tickets, the departments' answers, 好差评 where it is open."""

    def name(self) -> str:
        return "action_ticket_status"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.complaint_status(tracker.sender_id)


class ActionRateTicket(BackendStepAction):
    """好差评 from the rating buttons (ticket_no, rating), or typed (“非常满意”)."""

    def name(self) -> str:
        return "action_rate_ticket"

    async def step(self, tracker: Tracker) -> Reply:
        return await backend.complaint_rate(
            tracker.sender_id, entity(tracker, "ticket_no"), entity(tracker, "rating"), user_text(tracker)
        )


class ValidateComplaintForm(BackendFormValidation):
    """Interpret what the user typed or tapped for each question of the complaint form."""

    answered_slots = ("complaint_text", "complaint_subject", "complaint_place", "complaint_phone", "complaint_confirm")

    def name(self) -> str:
        return "validate_complaint_form"

    async def interpret(self, slot: str, tracker: Tracker) -> Reply:
        return await backend.complaint_interpret(slot, complaint_state(tracker), user_text(tracker), entity(tracker, "choice"))
