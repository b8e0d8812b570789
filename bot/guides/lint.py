"""`python -m bot guides lint`: the checks the schema alone cannot make, reported in Chinese.

Each check names the file and line so staff can find the spot in the YAML file (or, later, the
field in the browser editor).
"""

from __future__ import annotations

from collections import defaultdict
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
    line = node_line(parsed.node, (*where, "when"))
    for leaf in comparisons(cond):
        question = guide.question(leaf.question)
        if question is None:
            problems.append(Problem(file, line, f"条件引用了不存在的问题 “{leaf.question}”"))
            continue
        if allowed_before is not None and leaf.question not in allowed_before:
            problems.append(Problem(file, line, f"问题的前提条件只能引用排在它前面的问题，“{leaf.question}” 不在前面"))
        valid = {c.value for c in question.choices}
        for value in leaf.values():
            if value not in valid:
                problems.append(
                    Problem(file, line, f"条件中问题 “{leaf.question}” 没有选项 “{value}”（可选：{'、'.join(sorted(valid))}）")
                )
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
        problems.append(Problem(file, at("id"), f"id “{guide.id}” 应与文件名 “{parsed.path.stem}” 一致"))

    for kind, ids in (
        ("事项", [i.id for i in guide.items]),
        ("材料", [m.id for m in guide.materials]),
        ("问题", [q.id for q in guide.questions]),
    ):
        for dup in sorted(_duplicates(ids)):
            problems.append(Problem(file, 1, f"{kind} id “{dup}” 重复"))

    known_licences = {lic.code for lic in licences.licences} if licences else set()
    item_ids = {i.id for i in guide.items}
    for mi, material in enumerate(guide.materials):
        if material.licence and licences and material.licence not in known_licences:
            problems.append(
                Problem(file, at("materials", mi, "licence"), f"电子证照目录中没有证照代码 “{material.licence}”")
            )
        if material.produced_by and material.produced_by not in item_ids:
            problems.append(
                Problem(file, at("materials", mi, "produced_by"), f"produced_by 引用了不存在的事项 “{material.produced_by}”")
            )

    # Which questions some condition depends on: a question nobody depends on is never asked.
    referenced: set[str] = set()
    used_materials: set[str] = set()
    for ii, item in enumerate(guide.items):
        problems += _condition_problems(guide, item.when, ("items", ii), parsed, file)
        referenced.update(questions_in(item.when))
        for ri, ref in enumerate(item.materials):
            if guide.material(ref.material) is None:
                problems.append(
                    Problem(file, at("items", ii, "materials", ri), f"事项 “{item.id}” 引用了不存在的材料 “{ref.material}”")
                )
            used_materials.add(ref.material)
            problems += _condition_problems(guide, ref.when, ("items", ii, "materials", ri), parsed, file)
            referenced.update(questions_in(ref.when))
    earlier: set[str] = set()
    for qi, question in enumerate(guide.questions):
        problems += _condition_problems(guide, question.when, ("questions", qi), parsed, file, earlier)
        earlier.add(question.id)
        for dup in sorted(_duplicates([c.value for c in question.choices])):
            problems.append(Problem(file, at("questions", qi, "choices"), f"问题 “{question.id}” 的选项 “{dup}” 重复"))
    for qi, question in enumerate(guide.questions):
        if question.id not in referenced:
            problems.append(
                Problem(file, at("questions", qi, "id"), f"问题 “{question.id}” 从未被任何条件用到，永远不会被问到")
            )
    for mi, material in enumerate(guide.materials):
        if material.id not in used_materials:
            problems.append(
                Problem(file, at("materials", mi, "id"), f"材料 “{material.id}” 没有被任何事项用到", "提醒")
            )
    return problems


def lint_loaded(loaded: LoadedGuides) -> list[Problem]:
    problems = list(loaded.problems)
    claims: dict[str, list[tuple[str, ParsedFile, int]]] = defaultdict(list)
    for guide_id, guide in loaded.guides.items():
        parsed = loaded.parsed[guide_id]
        problems += lint_guide(guide, parsed, loaded.licences)
        claims[guide.title].append((guide_id, parsed, node_line(parsed.node, ("title",))))
        for ai, alias in enumerate(guide.aliases):
            claims[alias].append((guide_id, parsed, node_line(parsed.node, ("aliases", ai))))
    for phrase, owners in sorted(claims.items()):
        guide_ids = sorted({o[0] for o in owners})
        if len(guide_ids) > 1:
            for guide_id, parsed, line in owners:
                others = "、".join(g for g in guide_ids if g != guide_id)
                problems.append(
                    Problem(f"guides/{parsed.path.name}", line, f"别名 “{phrase}” 同时被 {others} 使用", blocks_loading=False)
                )
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.message))


def lint_directory(directory: Path) -> list[Problem]:
    from bot.complaints.rules import lint_rules  # complaints/rules.yml: 有诉即办 categories and routing

    return lint_loaded(load_directory(directory)) + lint_rules(directory)
