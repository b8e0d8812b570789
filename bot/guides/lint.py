"""`python -m bot guides lint`: the checks the schema alone cannot make, reported in Chinese.

Each check names the file and line so staff can find the spot in the YAML file (or, later, the
field in the browser editor).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from bot.guides.conditions import comparisons, questions_in
from bot.guides.loader import LoadedGuides, ParsedFile, Problem, load_directory, node_line
from bot.guides.schema import Condition, Guide, LicenceCatalog


def _condition_problems(
    guide: Guide, cond: Condition | None, where: tuple[Any, ...], parsed: ParsedFile, file: str,
    allowed_before: set[str] | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    loc = (*where, "when")
    line = node_line(parsed.node, loc)
    for leaf in comparisons(cond):
        question = guide.question(leaf.question)
        if question is None:
            problems.append(Problem(file, line, f"条件引用了不存在的问题 “{leaf.question}”", loc=loc))
            continue
        if allowed_before is not None and leaf.question not in allowed_before:
            problems.append(
                Problem(file, line, f"问题的前提条件只能引用排在它前面的问题，“{leaf.question}” 不在前面", loc=loc)
            )
        valid = {c.value for c in question.choices}
        for value in leaf.values():
            if value not in valid:
                problems.append(Problem(
                    file, line, f"条件中问题 “{leaf.question}” 没有选项 “{value}”（可选：{'、'.join(sorted(valid))}）", loc=loc,
                ))
    return problems


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    dup: set[str] = set()
    for v in values:
        (dup if v in seen else seen).add(v)
    return dup


def lint_guide(guide: Guide, parsed: ParsedFile, licences: LicenceCatalog | None) -> list[Problem]:
    file = f"guides/{parsed.path.name}"
    problems: list[Problem] = []

    def at(*loc: Any) -> int:
        return node_line(parsed.node, loc)

    if parsed.path.stem != guide.id:
        problems.append(Problem(file, at("id"), f"id “{guide.id}” 应与文件名 “{parsed.path.stem}” 一致", loc=("id",)))

    for kind, key, ids in (
        ("事项", "items", [i.id for i in guide.items]),
        ("材料", "materials", [m.id for m in guide.materials]),
        ("问题", "questions", [q.id for q in guide.questions]),
    ):
        for dup in sorted(_duplicates(ids)):
            problems.append(Problem(file, 1, f"{kind} id “{dup}” 重复", loc=(key, ids.index(dup), "id")))

    known_licences = {lic.code for lic in licences.licences} if licences else set()
    item_ids = {i.id for i in guide.items}
    for mi, material in enumerate(guide.materials):
        if material.licence and licences and material.licence not in known_licences:
            loc: tuple[str | int, ...] = ("materials", mi, "licence")
            problems.append(Problem(file, at(*loc), f"电子证照目录中没有证照代码 “{material.licence}”", loc=loc))
        if material.produced_by and material.produced_by not in item_ids:
            loc = ("materials", mi, "produced_by")
            problems.append(Problem(file, at(*loc), f"produced_by 引用了不存在的事项 “{material.produced_by}”", loc=loc))

    # Which questions some condition depends on: a question nobody depends on is never asked.
    referenced: set[str] = set()
    used_materials: set[str] = set()
    for ii, item in enumerate(guide.items):
        problems += _condition_problems(guide, item.when, ("items", ii), parsed, file)
        referenced.update(questions_in(item.when))
        for ri, ref in enumerate(item.materials):
            if guide.material(ref.material) is None:
                loc = ("items", ii, "materials", ri)
                problems.append(Problem(file, at(*loc), f"事项 “{item.id}” 引用了不存在的材料 “{ref.material}”", loc=loc))
            used_materials.add(ref.material)
            problems += _condition_problems(guide, ref.when, ("items", ii, "materials", ri), parsed, file)
            referenced.update(questions_in(ref.when))
    earlier: set[str] = set()
    for qi, question in enumerate(guide.questions):
        problems += _condition_problems(guide, question.when, ("questions", qi), parsed, file, earlier)
        earlier.add(question.id)
        for dup in sorted(_duplicates([c.value for c in question.choices])):
            loc = ("questions", qi, "choices")
            problems.append(Problem(file, at(*loc), f"问题 “{question.id}” 的选项 “{dup}” 重复", loc=loc))
    for qi, question in enumerate(guide.questions):
        if question.id not in referenced:
            loc = ("questions", qi, "id")
            problems.append(
                Problem(file, at(*loc), f"问题 “{question.id}” 从未被任何条件用到，永远不会被问到", loc=loc)
            )
    for mi, material in enumerate(guide.materials):
        if material.id not in used_materials:
            loc = ("materials", mi, "id")
            problems.append(Problem(file, at(*loc), f"材料 “{material.id}” 没有被任何事项用到", "提醒", loc=loc))
    return problems


def lint_loaded(loaded: LoadedGuides) -> list[Problem]:
    problems = list(loaded.problems)
    claims: dict[str, list[tuple[str, ParsedFile, tuple[str | int, ...]]]] = defaultdict(list)
    for guide_id, guide in loaded.guides.items():
        parsed = loaded.parsed[guide_id]
        problems += lint_guide(guide, parsed, loaded.licences)
        claims[guide.title].append((guide_id, parsed, ("title",)))
        for ai, alias in enumerate(guide.aliases):
            claims[alias].append((guide_id, parsed, ("aliases", ai)))
    for phrase, owners in sorted(claims.items()):
        guide_ids = sorted({o[0] for o in owners})
        if len(guide_ids) > 1:
            for guide_id, parsed, where in owners:
                line = node_line(parsed.node, where)
                others = "、".join(g for g in guide_ids if g != guide_id)
                problems.append(Problem(
                    f"guides/{parsed.path.name}", line, f"别名 “{phrase}” 同时被 {others} 使用", blocks_loading=False,
                    loc=where,
                ))
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.message))


def lint_directory(directory: Path, today: date | None = None) -> list[Problem]:
    """Everything under guides/; ``today`` (default: Beijing's) is the day the policies' windows are judged on."""
    from bot.complaints.rules import lint_rules  # complaints/rules.yml: 有诉即办 categories and routing
    from bot.policies.catalog import lint_policies  # policies/*.yml: 惠企政策 (免申即享)

    return lint_loaded(load_directory(directory)) + lint_rules(directory) + lint_policies(directory, today)
