"""What a citizen would be sent for a set of answers, built by the same code as the real chat.

The checklist turn of bot.guides.dialogue (the 一次告知 card, the notice link, the text after it)
is built from the guide being edited, then rendered by the WeChat renderer of the official account
(its templates, the 2048-byte split) and handed to the web chat's own card renderer (chat.js) in a
framed page, so staff see both exactly as they will reach citizens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from markupsafe import Markup

from bot.channels import messages as m
from bot.channels.wechat.render import WECHAT_TEXT_LIMIT, WeChatRenderer, nbytes
from bot.guides.catalog import Catalog
from bot.guides.checklist import default_items, next_question, settled_answers
from bot.guides.dialogue import FlowState, GuideDialogue
from bot.guides.schema import Guide, Question
from bot.store.schemas import notice_path

SAMPLE_NOTICE_ID = "preview"


@dataclass(frozen=True)
class WeChatPart:
    text: str
    bytes: int

    @property
    def over(self) -> bool:
        return self.bytes > WECHAT_TEXT_LIMIT


@dataclass(frozen=True)
class Preview:
    guide: Guide
    items: list[str]
    answers: dict[str, str]
    messages: list[m.Message]
    wechat: list[WeChatPart]
    wechat_total_bytes: int
    pending: Question | None  # the next question the assistant would still ask
    asked: list[Question]  # the questions that can come up for these sub-items and answers


def preview(
    catalog: Catalog, guide: Guide, items: Sequence[str] | None, answers: Mapping[str, str], renderer: WeChatRenderer,
) -> Preview:
    chosen = [i.id for i in guide.items if i.id in set(items)] if items is not None else default_items(guide)
    valid = {q.id: {c.value for c in q.choices} for q in guide.questions}
    given = {q: v for q, v in answers.items() if v in valid.get(q, set())}
    trial = replace(catalog, guides={**catalog.guides, guide.id: guide})
    reply = GuideDialogue(trial).checklist(FlowState(guide_id=guide.id, guide_items=chosen, answers=given))
    messages = list(reply.messages)
    card = next((x for x in messages if isinstance(x, m.ChecklistMessage)), None)
    if card is not None:  # the real turn links the stored notice right after the card
        link = m.LinkMessage(title="打开或打印这份一次告知单", url=notice_path(SAMPLE_NOTICE_ID), guide=card.guide)
        messages.insert(messages.index(card) + 1, link)
    rendered = renderer.render(messages)
    parts = [WeChatPart(p, nbytes(p)) for p in rendered.parts]
    settled = settled_answers(guide, given)
    asked = [q for q in guide.questions if settled.get(q.id) != "__skipped__"]
    return Preview(
        guide=guide, items=chosen, answers=given, messages=messages, wechat=parts,
        wechat_total_bytes=sum(p.bytes for p in parts), pending=next_question(guide, chosen, given), asked=asked,
    )


def messages_json(messages: Sequence[m.Message]) -> Markup:
    """The messages as JSON safe to stand inside a <script type="application/json"> data block."""
    text = json.dumps([x.model_dump(mode="json") for x in messages], ensure_ascii=False)
    # No "<", ">" or "&" survive, so neither "</script>" nor "<!--" can end or bend the block.
    safe = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    safe = safe.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(safe)  # escaped above for this one context


def answers_from_query(params: Mapping[str, Any], guide: Guide) -> tuple[list[str] | None, dict[str, str]]:
    """Sub-items (``item``, repeated; absent: 全部办理) and answers (``a.<question>``) from a query."""
    getlist = getattr(params, "getlist", None)
    items = list(getlist("item")) if getlist and "item" in params else None
    answers = {q.id: str(params.get(f"a.{q.id}")) for q in guide.questions if params.get(f"a.{q.id}")}
    return items, answers
