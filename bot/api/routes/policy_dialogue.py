"""/api/v1/dialogue/policies: the steps of the 惠企政策 conversation and of 企业绑定, called by the
Rasa action server.

Like /api/v1/dialogue/complaint: each endpoint takes the user's id, the relevant slots and words,
and answers the messages to send and the slots to set, so the actions stay thin. The policies and
the bindings go through bot.policies.service and bot.policies.binding in-process, on the app's
database, with the app's verifier (ENTERPRISE_VERIFIER) and policy catalog.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bot.api.deps import get_catalog
from bot.api.routes.enterprise import get_verifier
from bot.api.routes.policies import get_policies, get_today
from bot.complaints.dialogue import Channel
from bot.guides.dialogue import Reply
from bot.policies.dialogue import BindSlot, PolicyDialogue, PolicyState
from bot.store.db import SessionDep

router = APIRouter(prefix="/api/v1/dialogue/policies", tags=["dialogue"])


def get_policy_dialogue(request: Request) -> PolicyDialogue:
    return PolicyDialogue(get_catalog(request), get_policies(request), get_today(request), get_verifier(request))


Dialogue = Annotated[PolicyDialogue, Depends(get_policy_dialogue)]
UserId = Annotated[str, Field(min_length=1, max_length=128)]
# Longer than anything meaningful here, so an over-long message gets a polite note instead of a 422.
Said = Annotated[str, Field(max_length=8000)]
Ref = Annotated[str | None, Field(max_length=40)]


class UserRequest(BaseModel):
    user_id: UserId


class ListRequest(UserRequest):
    text: Said = ""


class ClaimRequest(UserRequest):
    match_id: Ref = None  # from a button; else the words or the policy last opened
    text: Said = ""
    state: PolicyState = Field(default_factory=PolicyState)


class BindStartRequest(UserRequest):
    channel: Channel = "web"
    text: Said = ""


class BindPromptRequest(BaseModel):
    slot: BindSlot
    state: PolicyState = Field(default_factory=PolicyState)


class BindInterpretRequest(BindStartRequest):
    slot: BindSlot
    choice: str | None = Field(default=None, max_length=200)
    state: PolicyState = Field(default_factory=PolicyState)


class BindDoneRequest(UserRequest):
    state: PolicyState = Field(default_factory=PolicyState)


class UnbindRequest(UserRequest):
    uscc: Ref = None  # from a button
    text: Said = ""


@router.post("/list")
def listing(body: ListRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    """“我们公司能享受哪些政策”: the ``policies`` message with reasons, or the offer to bind."""
    return dialogue.listing(session, body.user_id, body.text)


@router.post("/open")
def open_policy(body: ClaimRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.open(session, body.user_id, body.match_id, body.text)


@router.post("/confirm")
def confirm(body: ClaimRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.confirm(session, body.user_id, body.match_id, body.state, body.text)


@router.post("/decline")
def decline(body: ClaimRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.decline(session, body.user_id, body.match_id, body.state, body.text)


@router.post("/bind/start")
def bind_start(body: BindStartRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.bind_start(session, body.user_id, body.channel, body.text)


@router.post("/bind/prompt")
def bind_prompt(body: BindPromptRequest, dialogue: Dialogue) -> Reply:
    return dialogue.bind_prompt(body.slot, body.state)


@router.post("/bind/interpret")
def bind_interpret(body: BindInterpretRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.bind_interpret(session, body.slot, body.user_id, body.channel, body.state, body.text, body.choice)


@router.post("/bind/done")
def bind_done(body: BindDoneRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.bind_done(session, body.user_id, body.state)


@router.post("/bind/stop")
def bind_stop(dialogue: Dialogue) -> Reply:
    return dialogue.bind_stop()


@router.post("/unbind")
def unbind(body: UnbindRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    return dialogue.unbind(session, body.user_id, body.uscc, body.text)
