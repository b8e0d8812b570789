"""/api/v1/dialogue/complaint: the steps of the complaint conversation, called by the Rasa action server.

Like /api/v1/dialogue for the guided flow: each endpoint takes the relevant slots (and the user's
words) and answers the messages to send and the slots to set, so the actions stay thin. Submitting,
the status and 好差评 go through bot.complaints.service in-process, on the app's database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bot.api.deps import get_catalog
from bot.api.routes.complaints import get_rules
from bot.complaints.dialogue import Channel, ComplaintDialogue, ComplaintState, Slot
from bot.guides.dialogue import Reply
from bot.store.db import SessionDep

router = APIRouter(prefix="/api/v1/dialogue/complaint", tags=["dialogue"])


def get_complaint_dialogue(request: Request) -> ComplaintDialogue:
    return ComplaintDialogue(get_catalog(request), get_rules(request))


Dialogue = Annotated[ComplaintDialogue, Depends(get_complaint_dialogue)]
UserId = Annotated[str, Field(min_length=1, max_length=128)]


class StateRequest(BaseModel):
    state: ComplaintState = Field(default_factory=ComplaintState)


# Longer than a complaint may be (2000), so an over-long answer gets a polite note instead of a 422.
MAX_SAID = 8000


class StartRequest(StateRequest):
    text: str = Field(default="", max_length=MAX_SAID)


class PromptRequest(StateRequest):
    slot: Slot


class InterpretRequest(PromptRequest):
    text: str = Field(default="", max_length=MAX_SAID)
    choice: str | None = Field(default=None, max_length=200)


class SubmitRequest(StateRequest):
    user_id: UserId
    channel: Channel = "web"
    choice: str | None = Field(default=None, max_length=200)


class StatusRequest(BaseModel):
    user_id: UserId


class RateRequest(BaseModel):
    user_id: UserId
    ticket_no: str | None = Field(default=None, max_length=32)
    rating: str | None = Field(default=None, max_length=16)
    text: str = Field(default="", max_length=2000)


@router.post("/start")
def start(body: StartRequest, dialogue: Dialogue) -> Reply:
    """A new draft with its idempotency key; the first message is the complaint when it says what happened."""
    return dialogue.start(body.state, body.text)


@router.post("/prompt")
def prompt(body: PromptRequest, dialogue: Dialogue) -> Reply:
    return dialogue.prompt(body.slot, body.state)


@router.post("/interpret")
def interpret(body: InterpretRequest, dialogue: Dialogue) -> Reply:
    return dialogue.interpret(body.slot, body.state, body.text, body.choice)


@router.post("/submit")
def submit(body: SubmitRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.submit(session, body.state, body.user_id, body.channel, body.choice)


@router.post("/stop")
def stop(body: StateRequest, dialogue: Dialogue) -> Reply:
    return dialogue.stop()


@router.post("/status")
def status(body: StatusRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.status(session, body.user_id)


@router.post("/rate")
def rate(body: RateRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.rate(session, body.user_id, body.ticket_no, body.rating, body.text)
