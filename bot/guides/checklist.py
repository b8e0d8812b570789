"""The 一次告知: which sub-items apply, which questions still matter, and the merged material list.

Pure functions over a Guide and the user's answers; no I/O, so they are cheap to test exhaustively.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.guides.conditions import evaluate, questions_in
from bot.guides.schema import Condition, Guide, Item, Licence, Material, Question


@dataclass(frozen=True)
class ChecklistMaterial:
    id: str
    name: str
    form: str
    copies: int
    exempt: bool
    exempt_reason: str | None
    deferrable: bool
    deferrable_note: str | None
    note: str | None
    conditional: bool  # the answers did not decide it: bring it if it applies
    for_items: tuple[str, ...]  # item ids that need it


@dataclass(frozen=True)
class Checklist:
    guide: Guide
    items: tuple[Item, ...]
    not_applicable: tuple[Item, ...]
    materials: tuple[ChecklistMaterial, ...]
    answers: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.materials)

    @property
    def exempt(self) -> int:
        return sum(1 for m in self.materials if m.exempt)

    @property
    def to_submit(self) -> int:
        return self.total - self.exempt

    @property
    def deferrable(self) -> int:
        return sum(1 for m in self.materials if m.deferrable and not m.exempt)

    @property
    def time_limit_days(self) -> int:
        return self.guide.time_limit_days


def default_items(guide: Guide) -> list[str]:
    """What 全部办理 selects: every sub-item that is not marked optional."""
    return [i.id for i in guide.items if not i.optional]


SKIPPED = "__skipped__"  # the answer of a question that can no longer be asked


def settled_answers(guide: Guide, answers: Mapping[str, str]) -> dict[str, str]:
    """The answers, plus SKIPPED for every question whose own condition already failed.

    A comparison with a question that will never be asked is then decided (false) instead of
    staying unknown forever, so such materials drop out rather than linger as “如适用”.
    """
    settled = dict(answers)
    changed = True
    while changed:
        changed = False
        for question in guide.questions:
            if question.id not in settled and evaluate(question.when, settled) is False:
                settled[question.id] = SKIPPED
                changed = True
    return settled


def chosen_items(guide: Guide, item_ids: Sequence[str]) -> list[Item]:
    wanted = set(item_ids)
    return [i for i in guide.items if i.id in wanted]  # guide order, unknown ids dropped


def _open_conditions(guide: Guide, item_ids: Sequence[str], answers: Mapping[str, str]) -> list[Condition]:
    conditions: list[Condition] = []
    for item in chosen_items(guide, item_ids):
        applies = evaluate(item.when, answers)
        if applies is False:
            continue
        if item.when is not None and applies is None:
            conditions.append(item.when)
        conditions.extend(ref.when for ref in item.materials if ref.when is not None)
    return [c for c in conditions if evaluate(c, answers) is None]


def next_question(guide: Guide, item_ids: Sequence[str], answers: Mapping[str, str]) -> Question | None:
    """The first question, in the guide's order, whose answer still changes the checklist."""
    answers = settled_answers(guide, answers)
    needed: set[str] = set()
    for cond in _open_conditions(guide, item_ids, answers):
        needed.update(q for q in questions_in(cond) if q not in answers)
    # A question asked only under a condition needs that condition's questions first.
    changed = True
    while changed:
        changed = False
        for qid in list(needed):
            question = guide.question(qid)
            if question is None or evaluate(question.when, answers) is not None:
                continue
            for dep in questions_in(question.when):
                if dep not in answers and dep not in needed:
                    needed.add(dep)
                    changed = True
    for question in guide.questions:
        if question.id in needed and question.id not in answers and evaluate(question.when, answers) is True:
            return question
    return None


def exemption(
    material: Material, licences: Mapping[str, Licence], guide: Guide, item_ids: Sequence[str]
) -> str | None:
    """Why this material need not be submitted (免), or None when it must be brought."""
    if material.produced_by and material.produced_by in item_ids:
        producer = guide.item(material.produced_by)
        title = producer.short_title or producer.title if producer else material.produced_by
        return f"由本件事中的“{title}”办结后内部流转，免提交"
    licence = licences.get(material.licence) if material.licence else None
    if licence is not None and licence.electronic:
        return f"已共享{licence.name}电子证照（{licence.issuer}），免提交"
    if material.shared_data:
        return f"通过“{material.shared_data}”共享核验，免提交"
    return None


def build_checklist(
    guide: Guide, licences: Mapping[str, Licence], item_ids: Sequence[str], answers: Mapping[str, str]
) -> Checklist:
    """Merge and de-duplicate the materials of the chosen sub-items (一套材料)."""
    given = dict(answers)
    answers = settled_answers(guide, answers)
    items: list[Item] = []
    not_applicable: list[Item] = []
    for item in chosen_items(guide, item_ids):
        (not_applicable if evaluate(item.when, answers) is False else items).append(item)
    applicable_ids = [i.id for i in items]

    needed_by: dict[str, list[str]] = {}
    conditional: dict[str, bool] = {}
    for item in items:
        for ref in item.materials:
            applies = evaluate(ref.when, answers)
            if applies is False:
                continue
            needed_by.setdefault(ref.material, []).append(item.id)
            # Needed for certain by any one item means needed for certain.
            conditional[ref.material] = conditional.get(ref.material, True) and applies is None

    materials: list[ChecklistMaterial] = []
    for material_id, for_items in needed_by.items():
        material = guide.material(material_id)
        if material is None:  # lint reports it; never break a citizen's checklist over it
            continue
        reason = exemption(material, licences, guide, applicable_ids)
        materials.append(
            ChecklistMaterial(
                id=material.id,
                name=material.name,
                form=material.form,
                copies=material.copies,
                exempt=reason is not None,
                exempt_reason=reason,
                deferrable=material.deferrable,
                deferrable_note=material.deferrable_note,
                note=material.note,
                conditional=conditional[material_id],
                for_items=tuple(dict.fromkeys(for_items)),
            )
        )
    # To bring first, then 容缺, then 免: the order a citizen packs their bag in.
    materials.sort(key=lambda m: (m.exempt, m.deferrable))
    return Checklist(guide, tuple(items), tuple(not_applicable), tuple(materials), given)
