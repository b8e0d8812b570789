"""The guided conversation, one step at a time, as a service the Rasa actions call over HTTP.

Rasa decides *which* step runs (intents, rules, the guide form); this module decides *what* the
step says and which slots change, from the guide data. Every message that belongs to a guide's
flow carries the guide reference, as the chat API promises.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from bot.channels import messages as m
from bot.guides import answers
from bot.guides.catalog import Catalog
from bot.guides.checklist import build_checklist, default_items, exemption, next_question
from bot.guides.matcher import normalize
from bot.guides.schema import Guide

DONE = "done"


class FlowState(BaseModel):
    """The slots an action sends along; the backend keeps no conversation state of its own."""

    guide_id: str | None = None
    guide_items: list[str] | None = None
    items_draft: list[str] | None = None
    answers: dict[str, str] = Field(default_factory=dict)
    pending_question: str | None = None
    last_items: list[str] | None = None  # the sub-items of the last checklist sent


class Reply(BaseModel):
    messages: list[m.Message] = Field(default_factory=list)
    slots: dict[str, Any] = Field(default_factory=dict)


def payload(intent: str, **entities: str) -> str:
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


def _ref(guide: Guide) -> m.GuideRef:
    return m.GuideRef(id=guide.id, title=guide.title)


def _fresh_flow(guide_id: str | None) -> dict[str, Any]:
    return {
        "guide_id": guide_id,
        "guide_items": None,
        "guide_question": None,
        "items_draft": None,
        "answers": {},
        "pending_question": None,
    }


def reconcile(state: FlowState, guide: Guide) -> FlowState:
    """Fit a conversation in progress to the guide as it is now (in place).

    Staff may publish a new version of a guide while someone is half-way through it. The
    conversation moves over to the new version rather than staying on the old one: the notice at the
    end must be the corrected one, and the slots Rasa keeps cannot carry a version without
    retraining. So whatever the new version no longer has is dropped: answers to removed questions
    or with removed choices (the question is asked again), sub-items that are gone, a pending
    question that is gone; everything else carries over unchanged.
    """
    choices = {q.id: {c.value for c in q.choices} for q in guide.questions}
    state.answers = {q: v for q, v in state.answers.items() if v in choices.get(q, ())}
    items = {i.id for i in guide.items}
    for name in ("guide_items", "items_draft", "last_items"):
        chosen = getattr(state, name)
        if chosen is not None:
            kept = [i for i in chosen if i in items]
            # Every chosen sub-item gone: choose again rather than proceed with none.
            setattr(state, name, kept if kept or not chosen or name == "items_draft" else None)
    if state.pending_question is not None and state.pending_question not in choices:
        state.pending_question = None
    return state


class GuideDialogue:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.say = catalog.wording.render

    # --- helpers -------------------------------------------------------------------------

    def _guide_choices(self, guides: list[Guide]) -> list[m.Choice]:
        return [m.Choice(title=g.title, payload=payload("ask_guide", guide_id=g.id), guide=_ref(g)) for g in guides]

    def _with_featured(self, text: str) -> m.ChoicesMessage:
        choices = self._guide_choices(self.catalog.featured())
        choices.append(m.Choice(title="看看能办哪些事", payload=payload("help")))
        return m.ChoicesMessage(text=text, choices=choices)

    def _identified(self, guide: Guide) -> Reply:
        text = self.say("identified", guide=guide)
        return Reply(
            messages=[m.TextMessage(text=text, guide=_ref(guide))],
            slots={**_fresh_flow(guide.id), "guide_status": "found"},
        )

    def _switch_offer(self, state: FlowState, text: str) -> list[m.Message]:
        """When an answer is not understood but names another 一件事, offer to switch."""
        found = self.catalog.matcher.identify(text)
        if found.outcome != "found" or found.best is None or found.best.guide_id == state.guide_id:
            return []
        other = self.catalog.guides[found.best.guide_id]
        return [
            m.ChoicesMessage(
                text=f"如果您是想改办【{other.title}】，点下面的按钮；否则请接着回答。",
                choices=self._guide_choices([other]),
                guide=_ref(other),
            )
        ]

    def _guide(self, state: FlowState) -> Guide | None:
        guide = self.catalog.guide(state.guide_id)
        if guide is not None:
            reconcile(state, guide)
        return guide

    # --- entry ---------------------------------------------------------------------------

    def identify(self, text: str, guide_id: str | None = None) -> Reply:
        if guide_id and (guide := self.catalog.guide(guide_id)):
            return self._identified(guide)
        result = self.catalog.matcher.identify(text)
        if result.outcome == "found" and result.best:
            return self._identified(self.catalog.guides[result.best.guide_id])
        if result.outcome == "ambiguous":
            guides = [self.catalog.guides[c.guide_id] for c in result.candidates]
            choices = self._guide_choices(guides)
            choices.append(m.Choice(title="都不是，看看能办哪些事", payload=payload("help")))
            return Reply(
                messages=[m.ChoicesMessage(text=self.say("ambiguous"), choices=choices)],
                slots={"guide_status": "ambiguous"},
            )
        return Reply(messages=[self._with_featured(self.say("not_found"))], slots={"guide_status": "none"})

    # --- sub-items -----------------------------------------------------------------------

    def items_prompt(self, state: FlowState) -> Reply:
        guide = self._guide(state)
        if guide is None:
            return Reply(messages=[self._with_featured(self.say("not_found"))], slots=_fresh_flow(None))
        ref = _ref(guide)
        if state.items_draft is not None:
            draft = set(state.items_draft)
            titles = [i.short_title or i.title for i in guide.items if i.id in draft]
            choices = [
                m.Choice(
                    title=("✓ " if i.id in draft else "") + (i.short_title or i.title),
                    payload=payload("choose", choice=f"item:{i.id}"),
                    guide=ref,
                )
                for i in guide.items
            ]
            choices.append(m.Choice(title="选好了", payload=payload("choose", choice=DONE), guide=ref))
            text = self.say("items_pick_prompt", draft=titles)
            return Reply(messages=[m.ChoicesMessage(text=text, choices=choices, guide=ref)])
        text = self.say("items_prompt", guide=guide, items=guide.items)
        n = len(default_items(guide))
        choices = [
            m.Choice(title=f"全部办理（{n}项）", payload=payload("choose", choice="all"), guide=ref),
            m.Choice(title="只办其中几项", payload=payload("choose", choice="some"), guide=ref),
        ]
        return Reply(messages=[m.ChoicesMessage(text=text, choices=choices, guide=ref, numbered_text=True)])

    def _items_chosen(self, guide: Guide, item_ids: list[str], state: FlowState) -> Reply:
        titles = [i.short_title or i.title for i in guide.items if i.id in item_ids]
        more = next_question(guide, item_ids, state.answers) is not None
        text = self.say("items_confirmed", titles=titles, questions=more)
        return Reply(
            messages=[m.TextMessage(text=text, guide=_ref(guide))],
            slots={
                "guide_items": item_ids,
                "items_draft": None,
                "guide_question": None if more else DONE,
                "pending_question": None,
            },
        )

    def items_interpret(self, state: FlowState, text: str, choice: str | None, guide_id: str | None) -> Reply:
        if guide_id and guide_id != state.guide_id and (other := self.catalog.guide(guide_id)):
            return self._switched(other)
        guide = self._guide(state)
        if guide is None:
            return Reply(messages=[self._with_featured(self.say("not_found"))], slots=_fresh_flow(None))
        ref = _ref(guide)
        draft = list(state.items_draft) if state.items_draft is not None else None
        if choice == "all" or (choice is None and answers.wants_all(text)):
            return self._items_chosen(guide, default_items(guide), state)
        if choice == "some":
            return Reply(slots={"guide_items": None, "items_draft": draft or []})
        if choice and choice.startswith("item:"):
            item_id = choice.removeprefix("item:")
            draft = draft or []
            if guide.item(item_id):
                draft = [i for i in draft if i != item_id] if item_id in draft else [*draft, item_id]
            return Reply(slots={"guide_items": None, "items_draft": [i.id for i in guide.items if i.id in draft]})
        if choice == DONE or (choice is None and draft is not None and answers.is_done(text)):
            if draft:
                return self._items_chosen(guide, draft, state)
            return Reply(messages=[m.TextMessage(text=self.say("items_none_picked"), guide=ref)],
                         slots={"guide_items": None, "items_draft": []})
        picked = answers.parse_items(guide, text) if choice is None else []
        if picked:
            return self._items_chosen(guide, picked, state)
        if choice is None and (why := self._explanation(guide, state, text)):
            return Reply(messages=[why], slots={"guide_items": None})
        msgs: list[m.Message] = [m.TextMessage(text=self.say("items_not_understood"), guide=ref)]
        msgs += self._switch_offer(state, text)
        return Reply(messages=msgs, slots={"guide_items": None})

    # --- questions -----------------------------------------------------------------------

    def question_prompt(self, state: FlowState) -> Reply:
        guide = self._guide(state)
        if guide is None:
            return Reply(messages=[self._with_featured(self.say("not_found"))], slots=_fresh_flow(None))
        question = next_question(guide, state.guide_items or [], state.answers)
        if question is None:
            return Reply(slots={"guide_question": DONE, "pending_question": None})
        ref = _ref(guide)
        choices = [m.Choice(title=c.title, payload=payload("choose", choice=c.value), guide=ref) for c in question.choices]
        text = self.say("question_prompt", question=question)
        return Reply(
            messages=[m.ChoicesMessage(text=text, choices=choices, guide=ref)],
            slots={"pending_question": question.id},
        )

    def question_interpret(self, state: FlowState, text: str, choice: str | None, guide_id: str | None) -> Reply:
        if guide_id and guide_id != state.guide_id and (other := self.catalog.guide(guide_id)):
            return self._switched(other)
        guide = self._guide(state)
        if guide is None:
            return Reply(messages=[self._with_featured(self.say("not_found"))], slots=_fresh_flow(None))
        items = state.guide_items or []
        question = guide.question(state.pending_question or "") or next_question(guide, items, state.answers)
        if question is None:
            return Reply(slots={"guide_question": DONE, "pending_question": None})
        values = {c.value: c for c in question.choices}
        picked = values.get(choice) if choice else answers.match_choice(question, text)
        if picked is None and choice is None and (why := self._explanation(guide, state, text)):
            # “为什么要结婚证” in the middle of the questions: answer it; the form asks again.
            return Reply(messages=[why], slots={"guide_question": None})
        if picked is None:
            msgs: list[m.Message] = [
                m.TextMessage(text=self.say("answer_not_understood", question=question), guide=_ref(guide))
            ]
            msgs += self._switch_offer(state, text)
            return Reply(messages=msgs, slots={"guide_question": None})
        new_answers = {**state.answers, question.id: picked.value}
        more = next_question(guide, items, new_answers) is not None
        return Reply(
            slots={
                "answers": new_answers,
                "pending_question": None,
                "guide_question": None if more else DONE,
            }
        )

    def switch(self, state: FlowState, text: str) -> Reply:
        """“换一个事项”: drop the guide in progress; start the one the text names, else ask which one."""
        found = self.catalog.matcher.identify(text)
        if found.outcome == "found" and found.best is not None and found.best.guide_id != state.guide_id:
            return self._switched(self.catalog.guides[found.best.guide_id])
        return self.reply("switch", state)

    def _switched(self, guide: Guide) -> Reply:
        reply = self._identified(guide)
        reply.messages.insert(0, m.TextMessage(text=self.say("switched_to", guide=guide), guide=_ref(guide)))
        return reply

    # --- the 一次告知 ---------------------------------------------------------------------

    def checklist_message(self, state: FlowState) -> m.ChecklistMessage | None:
        guide = self._guide(state)
        if guide is None:
            return None
        items = state.guide_items or default_items(guide)
        checklist = build_checklist(guide, self.catalog.licences, items, state.answers)
        titles = {i.id: i.short_title or i.title for i in guide.items}
        shown = []
        for qid, value in state.answers.items():
            question = guide.question(qid)
            choice = next((c for c in question.choices if c.value == value), None) if question else None
            if question and choice:
                shown.append(m.AnswerShown(question=question.text, answer=choice.title))
        return m.ChecklistMessage(
            guide=_ref(guide),
            items=[m.ChecklistItem(id=i.id, title=i.title, dept=i.department, time_limit_days=i.time_limit_days)
                   for i in checklist.items],
            materials=[
                m.ChecklistMaterial(
                    id=x.id, name=x.name, exempt=x.exempt, exempt_reason=x.exempt_reason,
                    deferrable=x.deferrable and not x.exempt, deferrable_note=x.deferrable_note,
                    copies=x.copies, form=x.form, note=x.note, conditional=x.conditional,
                    for_items=[titles[i] for i in x.for_items],
                )
                for x in checklist.materials
            ],
            stats=m.ChecklistStats(total=checklist.total, exempt=checklist.exempt,
                                   to_submit=checklist.to_submit, deferrable=checklist.deferrable),
            time_limit_days=checklist.time_limit_days,
            where=m.Where(**guide.where.model_dump()),
            fees=guide.fees,
            delivery=list(guide.delivery),
            not_applicable=[m.NotApplicable(id=i.id, title=i.title, note=i.not_applicable_note)
                            for i in checklist.not_applicable],
            answers=shown,
            sample_notice=guide.sample_notice,
        )

    @staticmethod
    def _example_material(guide: Guide, message: m.ChecklistMessage) -> str:
        """A material name short enough to use in “比如：为什么要户口本”."""
        for shown in message.materials:
            material = guide.material(shown.id)
            if material and material.aliases:
                return material.aliases[0]
        return min((x.name for x in message.materials), key=len, default="这个材料")

    def checklist(self, state: FlowState) -> Reply:
        message = self.checklist_message(state)
        if message is None:
            return Reply(messages=[self._with_featured(self.say("not_found"))], slots=_fresh_flow(None))
        guide = self.catalog.guides[message.guide.id]
        example = self._example_material(guide, message)
        after = self.say("checklist_after", checklist=message.stats, example=example)
        return Reply(
            messages=[message, m.TextMessage(text=after, guide=_ref(guide))],
            slots={"guide_status": None, "guide_items": None, "guide_question": None,
                   "last_items": [i.id for i in message.items]},
        )

    # --- side questions ------------------------------------------------------------------

    def _explanation(self, guide: Guide, state: FlowState, text: str) -> m.TextMessage | None:
        """Why the material the text names is needed, or None when it names none of the guide's."""
        norm = normalize(text)
        items = state.guide_items or state.last_items or default_items(guide)
        # “户口本” may name the father's or the mother's: prefer the one this user's list has.
        in_list = {x.id for x in build_checklist(guide, self.catalog.licences, items, state.answers).materials}
        best: tuple[tuple[bool, int], Any] | None = None
        for material in guide.materials:
            licence = self.catalog.licences.get(material.licence or "")
            names = [material.name, *material.aliases, *([licence.name] if licence else [])]
            for name in names:
                n = normalize(name)
                rank = (material.id in in_list, len(n))
                if n and n in norm and (best is None or rank > best[0]):
                    best = (rank, material)
        if best is None:
            return None
        material = best[1]
        reason = exemption(material, self.catalog.licences, guide, items)
        return m.TextMessage(text=self.say("explain", material=material, exempt_reason=reason), guide=_ref(guide))

    def explain(self, state: FlowState, text: str) -> Reply:
        guide = self._guide(state)
        if guide is None:
            return Reply(messages=[self._with_featured(self.say("explain_no_guide"))])
        explanation = self._explanation(guide, state, text)
        if explanation is None:
            names = [x.name for x in guide.materials]
            text = self.say("explain_unknown", guide=guide, names=names)
            return Reply(messages=[m.TextMessage(text=text, guide=_ref(guide))])
        return Reply(messages=[explanation])

    def reply(self, key: str, state: FlowState | None = None) -> Reply:
        if key == "help":
            guides = list(self.catalog.guides.values())
            text = self.say("help", guides=guides, count=len(guides))
            return Reply(messages=[self._with_featured(text)])
        if key in ("out_of_scope", "fallback", "switch", "acknowledge"):
            reply = Reply(messages=[self._with_featured(self.say(key))])
            if key == "switch":
                reply.slots = {**_fresh_flow(None), "guide_status": None}
            return reply
        if key == "stopped":
            return Reply(messages=[m.TextMessage(text=self.say(key))], slots={**_fresh_flow(None), "guide_status": None})
        if key == "greet":
            return Reply(messages=[self._with_featured(self.say(key))])
        return Reply(messages=[m.TextMessage(text=self.say(key))])


def not_understood(catalog: Catalog) -> list[m.Message]:
    """For a turn the assistant said nothing to: the “fallback” reply, with the featured guides to tap."""
    return GuideDialogue(catalog).reply("fallback").messages
