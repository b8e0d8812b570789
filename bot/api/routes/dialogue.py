"""/api/v1/dialogue: the steps of a guided conversation, called by the Rasa action server.

Each endpoint takes the relevant slots and answers the messages to send and the slots to set, so
the actions stay thin and every rule about guides lives here.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from bot.api.deps import get_dialogue
from bot.channels import messages as m
from bot.guides.dialogue import FlowState, GuideDialogue, Reply
from bot.store import notices
from bot.store.db import SessionDep
from bot.store.privacy import mask
from bot.store.schemas import notice_path

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/dialogue", tags=["dialogue"])
Dialogue = Annotated[GuideDialogue, Depends(get_dialogue)]


class IdentifyRequest(BaseModel):
    text: str = Field(default="", max_length=2000)
    guide_id: str | None = None


class TurnRequest(BaseModel):
    state: FlowState = Field(default_factory=FlowState)
    text: str = Field(default="", max_length=2000)
    choice: str | None = Field(default=None, max_length=200)
    guide_id: str | None = None


class StateRequest(BaseModel):
    state: FlowState = Field(default_factory=FlowState)


ReplyKey = Literal[
    "greet", "help", "goodbye", "thank", "acknowledge", "out_of_scope", "fallback", "stopped", "switch"
]


class ReplyRequest(BaseModel):
    key: ReplyKey
    state: FlowState = Field(default_factory=FlowState)


@router.post("/identify")
def identify(body: IdentifyRequest, dialogue: Dialogue) -> Reply:
    return dialogue.identify(body.text, body.guide_id)


@router.post("/items/prompt")
def items_prompt(body: StateRequest, dialogue: Dialogue) -> Reply:
    return dialogue.items_prompt(body.state)


@router.post("/items/interpret")
def items_interpret(body: TurnRequest, dialogue: Dialogue) -> Reply:
    return dialogue.items_interpret(body.state, body.text, body.choice, body.guide_id)


@router.post("/question/prompt")
def question_prompt(body: StateRequest, dialogue: Dialogue) -> Reply:
    return dialogue.question_prompt(body.state)


@router.post("/question/interpret")
def question_interpret(body: TurnRequest, dialogue: Dialogue) -> Reply:
    return dialogue.question_interpret(body.state, body.text, body.choice, body.guide_id)


class ChecklistRequest(StateRequest):
    user_id: str | None = Field(default=None, min_length=1, max_length=128)


@router.post("/checklist")
def checklist(body: ChecklistRequest, dialogue: Dialogue, session: SessionDep) -> Reply:
    """The 一次告知, stored so the citizen can open or print it later from a link."""
    reply = dialogue.checklist(body.state)
    message = next((x for x in reply.messages if isinstance(x, m.ChecklistMessage)), None)
    if message is None or not body.user_id:
        return reply
    try:
        notice = notices.create(
            session, user_id=body.user_id, checklist=message, items=[i.id for i in message.items],
            answers=body.state.answers, guide_version=dialogue.catalog.version,
        )
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("saving the notice failed (user %s); sent without a link", mask(body.user_id))
        return reply
    link = m.LinkMessage(title="打开或打印这份一次告知单", url=notice_path(notice.id), guide=message.guide)
    reply.messages.insert(reply.messages.index(message) + 1, link)
    return reply


@router.post("/explain")
def explain(body: TurnRequest, dialogue: Dialogue) -> Reply:
    return dialogue.explain(body.state, body.text)


@router.post("/switch")
def switch(body: TurnRequest, dialogue: Dialogue) -> Reply:
    return dialogue.switch(body.state, body.text)


@router.post("/reply")
def reply(body: ReplyRequest, dialogue: Dialogue) -> Reply:
    return dialogue.reply(body.key, body.state)
