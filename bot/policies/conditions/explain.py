"""Why an enterprise meets a policy, or what it lacks, in the words an enterprise reads.

Everything is derived from the policy's conditions (their ``label`` where the file gives one) and the
facts stored with the match, so a notice can say “符合：足额缴纳失业保险满12个月（贵企业：26个月）”
long after the profile changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot.policies import fields as f
from bot.policies.conditions import leaves, top_level, years_before
from bot.policies.conditions.reference import holds
from bot.policies.schema import AllOf, AnyOf, Condition, FieldIs, InList, NotOf, Policy


def typed_facts(facts: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Stored facts (JSON from SQLite or PostgreSQL) as typed field values, and the lists it is on."""
    values: dict[str, Any] = {}
    lists: set[str] = set()
    for key, value in facts.items():
        if key.startswith("list:"):
            if value in (True, 1, "1", "true"):
                lists.add(key.removeprefix("list:"))
            continue
        spec = f.field(key)
        if spec is None or value is None:
            values[key] = value
        elif spec.type == "date":
            values[key] = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        elif spec.type == "bool":
            values[key] = bool(value)
        elif spec.type == "int":
            values[key] = int(value)
        elif spec.type == "decimal":
            values[key] = Decimal(str(value)).quantize(Decimal("0.01"))
        else:
            values[key] = str(value)
    return values, lists


def show(spec: f.Field, value: Any) -> str:
    """A value as an enterprise reads it: 26个月, 3.50%, 2024年3月1日, 是."""
    if value is None:
        return "暂无数据"
    if spec.type == "bool":
        return "是" if value else "否"
    if spec.type == "date":
        return f"{value.year}年{value.month}月{value.day}日"
    if spec.type == "decimal":
        number = Decimal(str(value)).normalize()
        text = f"{number:f}"
    else:
        text = str(value)
    return f"{text}{spec.unit}" if spec.unit else text


def _operand(spec: f.Field, value: Any) -> str:
    return show(spec, value) if spec.type != "enum" else str(value)


def describe(condition: Condition) -> str:
    """The condition in words (its label when it has one)."""
    if condition.label:
        return condition.label
    if isinstance(condition, InList):
        return f"列入名单 {condition.in_list}"
    if isinstance(condition, AllOf):
        return "，且".join(describe(c) for c in condition.all)
    if isinstance(condition, AnyOf):
        return "，或".join(describe(c) for c in condition.any)
    if isinstance(condition, NotOf):
        return f"不属于：{describe(condition.not_)}"
    spec = f.BY_NAME[condition.field]
    op, value = condition.op, condition.operand()
    words = {
        "equals": lambda: f"{spec.label}为{_operand(spec, value)}",
        "in": lambda: f"{spec.label}为{'、'.join(_operand(spec, v) for v in value)}之一",
        "gt": lambda: f"{spec.label}大于{_operand(spec, value)}",
        "ge": lambda: f"{spec.label}不少于{_operand(spec, value)}",
        "lt": lambda: f"{spec.label}小于{_operand(spec, value)}",
        "le": lambda: f"{spec.label}不超过{_operand(spec, value)}",
        "between": lambda: f"{spec.label}在{_operand(spec, value[0])}至{_operand(spec, value[1])}之间",
        "prefix": lambda: f"{spec.label}属于 {'、'.join(value)}",
        "exists": lambda: f"有{spec.label}数据" if value else f"无{spec.label}记录",
        "within_last_years": lambda: f"{spec.label}在{value}年以内",
        "at_least_years_ago": lambda: f"{spec.label}已满{value}年",
    }
    return words[op]()


def _values_shown(condition: Condition, values: Mapping[str, Any]) -> str:
    """“（贵企业：26个月）”: the enterprise's values of the numbers, dates and codes a part looks at.
    Yes/no and single-choice facts are left out: the condition's own words already say them."""
    shown = []
    for leaf in leaves(condition):
        if not isinstance(leaf, FieldIs) or leaf.op == "exists":
            continue
        spec = f.BY_NAME[leaf.field]
        if spec.type == "bool" or (spec.type == "enum" and leaf.op == "equals"):
            continue
        text = show(spec, values.get(leaf.field))
        item = f"{spec.label} {text}" if len(list(leaves(condition))) > 1 else text
        if item not in shown:
            shown.append(item)
    return f"（贵企业：{'，'.join(shown)}）" if shown else ""


def reasons(policy: Policy, facts: Mapping[str, Any], as_of: date) -> list[str]:
    """One line per top-level condition that holds, with the enterprise's values (the ``why`` of a match)."""
    values, lists = typed_facts(facts)
    lines = []
    for part in top_level(policy.conditions):
        if holds(part, values, lists, as_of):
            lines.append(f"{describe(part)}{_values_shown(part, values)}")
    return lines


def benefit_tiers(policy: Policy, facts: Mapping[str, Any], as_of: date) -> list[str]:
    """The benefit levels that apply to this enterprise (“中小微企业返还60%”)."""
    values, lists = typed_facts(facts)
    return [t.text for t in policy.benefit.tiers if holds(t.when, values, lists, as_of)]


def _gap(leaf: FieldIs, value: Any, as_of: date) -> str | None:
    spec = f.BY_NAME[leaf.field]
    if value is None:
        return f"暂无{spec.label}数据"
    op, operand = leaf.op, leaf.operand()
    if op == "at_least_years_ago" and isinstance(value, date):
        wait = (value - years_before(as_of, operand)).days
        return f"还需 {wait} 天（{show(spec, as_of + timedelta(days=wait))}起满{operand}年）"
    if spec.type not in ("int", "decimal") or op not in ("gt", "ge", "lt", "le", "between"):
        return None
    number = Decimal(str(value))
    step = Decimal(1) if spec.type == "int" else Decimal("0.01")
    if op == "between":
        low, high = (Decimal(str(x)) for x in operand)
        short = low - number if number < low else None
        over = number - high if number > high else None
    else:
        bound = Decimal(str(operand))
        short = {"ge": bound - number, "gt": bound - number + step}.get(op)
        over = {"le": number - bound, "lt": number - bound + step}.get(op)
    if short is not None and short > 0:
        return f"{spec.label}还差 {show(spec, short)}（贵企业：{show(spec, value)}）"
    if over is not None and over > 0:
        return f"{spec.label}超出 {show(spec, over)}（贵企业：{show(spec, value)}）"
    return None


def _gaps(condition: Condition, values: Mapping[str, Any], lists: set[str], as_of: date) -> list[str]:
    """The shortfalls that make ``condition`` fail; of ``any``, those of its closest branch."""
    if holds(condition, values, lists, as_of):
        return []
    if isinstance(condition, FieldIs):
        gap = _gap(condition, values.get(condition.field), as_of)
        return [gap or f"不符合：{describe(condition)}"]
    if isinstance(condition, AllOf):
        return [g for c in condition.all for g in _gaps(c, values, lists, as_of)]
    if isinstance(condition, AnyOf):
        return min((_gaps(c, values, lists, as_of) for c in condition.any), key=len)
    return [f"不符合：{describe(condition)}"]


def near_miss_text(policy: Policy, part: int, facts: Mapping[str, Any], as_of: date) -> dict[str, Any]:
    """What the enterprise lacks: the failed condition and, where it is a number or a date, by how much."""
    values, lists = typed_facts(facts)
    condition = top_level(policy.conditions)[part]
    gaps = list(dict.fromkeys(_gaps(condition, values, lists, as_of)))
    return {"condition": describe(condition), "gaps": gaps, "met": reasons(policy, facts, as_of)}
