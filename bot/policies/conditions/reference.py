"""The reference evaluator: a policy condition on one enterprise profile, in plain Python.

It is the specification the SQL compiler (compile.py) is tested against, and what explains a match
from the facts stored with it. Two-valued on purpose, like the SQL: a comparison on a missing value
(None) is false.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from bot.policies.conditions import near_miss_parts, top_level, years_before
from bot.policies.schema import AllOf, AnyOf, Condition, FieldIs, InList, NotOf


def _number(value: Any) -> Any:
    # Profiles may hold floats (JSON) or Decimals (the database); compare decimals exactly.
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def leaf_holds(leaf: FieldIs, value: Any, as_of: date) -> bool:
    op = leaf.op
    if op == "exists":
        return (value is not None) is leaf.exists
    if value is None:
        return False
    value = _number(value)
    operand = leaf.operand()
    if op == "equals":
        return bool(value == operand)
    if op == "in":
        return value in operand
    if op == "gt":
        return bool(value > operand)
    if op == "ge":
        return bool(value >= operand)
    if op == "lt":
        return bool(value < operand)
    if op == "le":
        return bool(value <= operand)
    if op == "between":
        low, high = operand
        return bool(low <= value <= high)
    if op == "prefix":
        return any(str(value).startswith(p) for p in operand)
    if op == "within_last_years":
        return years_before(as_of, operand) < value <= as_of
    if op == "at_least_years_ago":
        return bool(value <= years_before(as_of, operand))
    raise ValueError(f"unknown operator {op}")


def holds(condition: Condition, profile: Mapping[str, Any], lists: Collection[str], as_of: date) -> bool:
    """Whether ``condition`` holds for ``profile`` (field -> value) on the lists ``lists``."""
    if isinstance(condition, FieldIs):
        return leaf_holds(condition, profile.get(condition.field), as_of)
    if isinstance(condition, InList):
        return condition.in_list in lists
    if isinstance(condition, AllOf):
        return all(holds(c, profile, lists, as_of) for c in condition.all)
    if isinstance(condition, AnyOf):
        return any(holds(c, profile, lists, as_of) for c in condition.any)
    if isinstance(condition, NotOf):
        return not holds(condition.not_, profile, lists, as_of)
    raise TypeError(f"unknown condition {condition!r}")


def failed_parts(condition: Condition, profile: Mapping[str, Any], lists: Collection[str], as_of: date) -> list[int]:
    """Indexes of the top-level parts (conditions.top_level) that do not hold: [] is a match."""
    return [i for i, part in enumerate(top_level(condition)) if not holds(part, profile, lists, as_of)]


def near_miss_part(condition: Condition, profile: Mapping[str, Any], lists: Collection[str], as_of: date) -> int | None:
    """The one top-level part this enterprise fails, when that makes it a near miss; else None."""
    failed = failed_parts(condition, profile, lists, as_of)
    if len(failed) == 1 and failed[0] in near_miss_parts(condition):
        return failed[0]
    return None
