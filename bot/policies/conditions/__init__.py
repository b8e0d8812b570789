"""Policy conditions: walking the tree (here), SQL (compile.py), plain Python (reference.py),
and the words an enterprise reads (explain.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from bot.policies import fields as f
from bot.policies.schema import AllOf, AnyOf, Condition, FieldIs, InList, NotOf


def leaves(condition: Condition) -> Iterator[FieldIs | InList]:
    """Every comparison of a condition tree, in file order."""
    if isinstance(condition, FieldIs | InList):
        yield condition
    elif isinstance(condition, AllOf):
        for c in condition.all:
            yield from leaves(c)
    elif isinstance(condition, AnyOf):
        for c in condition.any:
            yield from leaves(c)
    elif isinstance(condition, NotOf):
        yield from leaves(condition.not_)


def fields_in(*conditions: Condition | None) -> list[str]:
    seen: dict[str, None] = {}
    for condition in conditions:
        if condition is None:
            continue
        for leaf in leaves(condition):
            if isinstance(leaf, FieldIs):
                seen.setdefault(leaf.field, None)
    return list(seen)


def lists_in(*conditions: Condition | None) -> list[str]:
    seen: dict[str, None] = {}
    for condition in conditions:
        if condition is not None:
            for leaf in leaves(condition):
                if isinstance(leaf, InList):
                    seen.setdefault(leaf.in_list, None)
    return list(seen)


def top_level(condition: Condition) -> list[Condition]:
    """The parts a near miss counts: the children of a top-level ``all``, else the whole condition."""
    return list(condition.all) if isinstance(condition, AllOf) else [condition]


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# Comparisons an enterprise can come closer to meeting (more months paid, a lower rate, older):
# only a part made of these makes a useful near miss. Failing “is a 小巨人” or “is 个体工商户” is not.
_GAP_OPS = ("gt", "ge", "lt", "le", "between")


def closable(condition: Condition) -> bool:
    """Whether ``condition`` has a comparison with a measurable gap (a number, or a date to wait for)."""
    for leaf in leaves(condition):
        if not isinstance(leaf, FieldIs):
            continue
        spec = f.BY_NAME[leaf.field]
        if (leaf.op in _GAP_OPS and spec.type in ("int", "decimal")) or leaf.op == "at_least_years_ago":
            return True
    return False


def near_miss_parts(condition: Condition) -> list[int]:
    """The top-level parts whose failure alone makes a near miss (see ``closable``)."""
    parts = top_level(condition)
    if len(parts) < 2:
        return []
    return [i for i, part in enumerate(parts) if closable(part)]
