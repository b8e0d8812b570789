"""Channel-neutral messages: what the assistant says, before a channel renders it.

These are the message types of the chat API in DESIGN.md. Fields may be added; none may be
renamed, because the mini-program and WeChat renderers depend on them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class GuideRef(BaseModel):
    id: str
    title: str


class TextMessage(BaseModel):
    type: Literal["text"] = "text"
    text: str
    guide: GuideRef | None = None


class Choice(BaseModel):
    title: str
    payload: str
    guide: GuideRef | None = None


class ChoicesMessage(BaseModel):
    type: Literal["choices"] = "choices"
    text: str
    choices: list[Choice]
    guide: GuideRef | None = None
    # The text numbers a list of its own (the sub-items): a typed number refers to that list, so
    # text channels must not number the choices too.
    numbered_text: bool = False


class ChecklistItem(BaseModel):
    id: str
    title: str
    dept: str
    time_limit_days: int | None = None


class ChecklistMaterial(BaseModel):
    id: str
    name: str
    exempt: bool
    exempt_reason: str | None = None
    deferrable: bool
    deferrable_note: str | None = None
    copies: int
    form: str
    note: str | None = None
    conditional: bool = False
    for_items: list[str] = []


class ChecklistStats(BaseModel):
    total: int
    exempt: int
    to_submit: int
    deferrable: int


class Where(BaseModel):
    window: str
    address: str
    hours: str
    online: str
    phone: str | None = None


class NotApplicable(BaseModel):
    id: str
    title: str
    note: str | None = None


class AnswerShown(BaseModel):
    question: str
    answer: str


class ChecklistMessage(BaseModel):
    type: Literal["checklist"] = "checklist"
    guide: GuideRef
    items: list[ChecklistItem]
    materials: list[ChecklistMaterial]
    stats: ChecklistStats
    time_limit_days: int
    where: Where
    fees: str
    delivery: list[str]
    not_applicable: list[NotApplicable] = []
    answers: list[AnswerShown] = []
    sample_notice: str | None = None


class TicketInfo(BaseModel):
    no: str
    status: str
    category: str
    departments: list[str]
    deadline: str


class TicketMessage(BaseModel):
    type: Literal["ticket"] = "ticket"
    ticket: TicketInfo
    guide: GuideRef | None = None


class EnterpriseRef(BaseModel):
    uscc: str
    name: str


class PolicyInfo(BaseModel):
    id: str
    title: str
    kind: str  # list / condition / manual
    why: list[str]
    status: str  # matched / notified / confirmed / declined / paid
    # Added fields: what the channels show (labels in Chinese), and the match a button refers to.
    match_id: int | None = None
    kind_label: str | None = None
    status_label: str | None = None
    benefit: str | None = None
    enterprise: EnterpriseRef | None = None


class PoliciesMessage(BaseModel):
    type: Literal["policies"] = "policies"
    policies: list[PolicyInfo]


class LinkMessage(BaseModel):
    type: Literal["link"] = "link"
    title: str
    url: str
    guide: GuideRef | None = None


Message = Annotated[
    TextMessage | ChoicesMessage | ChecklistMessage | TicketMessage | PoliciesMessage | LinkMessage,
    Field(discriminator="type"),
]


def dump(messages: list[Message] | list[BaseModel]) -> list[dict]:
    return [m.model_dump(mode="json", exclude_none=True) for m in messages]
