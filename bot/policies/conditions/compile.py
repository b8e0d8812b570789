"""A policy condition compiled to one SQL expression (SQLAlchemy Core) on ``enterprises``.

The database does the matching: ``select(enterprises.c.id).where(compile_condition(...))`` finds
every enterprise that meets a policy without a row leaving the database. The semantics are the
reference evaluator's (reference.py), and tests/policies check the two agree on generated
policies and profiles: every comparison is guarded with ``IS NOT NULL``, so it is false, never
SQL's unknown, on missing data, and ``NOT`` then behaves as in Python.

Codes are compared with ``substr`` rather than ``LIKE``: SQLite's LIKE ignores case and both
treat ``_`` and ``%`` specially.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import KeyedColumnElement

from bot.policies.conditions import fields_in, lists_in, top_level, years_before
from bot.policies.models import Enterprise, EnterpriseList
from bot.policies.schema import AllOf, AnyOf, Condition, FieldIs, InList, NotOf, Policy

ENTERPRISES = Enterprise.__table__
LISTS = EnterpriseList.__table__


def _column(name: str) -> KeyedColumnElement[Any]:
    return ENTERPRISES.c[name]


def compile_leaf(leaf: FieldIs, as_of: date) -> ColumnElement[bool]:
    col = _column(leaf.field)
    op = leaf.op
    if op == "exists":
        return col.is_not(None) if leaf.exists else col.is_(None)
    operand = leaf.operand()
    if op == "equals":
        test: ColumnElement[bool] = col == operand
    elif op == "in":
        test = col.in_(operand)
    elif op == "gt":
        test = col > operand
    elif op == "ge":
        test = col >= operand
    elif op == "lt":
        test = col < operand
    elif op == "le":
        test = col <= operand
    elif op == "between":
        test = col.between(operand[0], operand[1])
    elif op == "prefix":
        test = or_(*(func.substr(col, 1, len(p)) == p for p in operand))
    elif op == "within_last_years":
        test = and_(col > years_before(as_of, operand), col <= as_of)
    elif op == "at_least_years_ago":
        test = col <= years_before(as_of, operand)
    else:  # pragma: no cover (the schema allows no other operator)
        raise ValueError(f"unknown operator {op}")
    return and_(col.is_not(None), test)


def _in_list(code: str) -> ColumnElement[bool]:
    return exists(select(literal(1)).where(LISTS.c.enterprise_id == ENTERPRISES.c.id, LISTS.c.list_code == code))


def compile_condition(condition: Condition, as_of: date) -> ColumnElement[bool]:
    """A boolean SQL expression over ``enterprises`` that is true exactly where ``condition`` holds."""
    if isinstance(condition, FieldIs):
        return compile_leaf(condition, as_of)
    if isinstance(condition, InList):
        return _in_list(condition.in_list)
    if isinstance(condition, AllOf):
        return and_(true(), *(compile_condition(c, as_of) for c in condition.all))
    if isinstance(condition, AnyOf):
        return or_(false(), *(compile_condition(c, as_of) for c in condition.any))
    if isinstance(condition, NotOf):
        return not_(compile_condition(condition.not_, as_of))
    raise TypeError(f"unknown condition {condition!r}")


def failed_count(condition: Condition, as_of: date) -> ColumnElement[int]:
    """How many top-level parts fail: 0 is a match, 1 a near miss."""
    parts = [case((compile_condition(p, as_of), 0), else_=1) for p in top_level(condition)]
    total: ColumnElement[int] = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def first_failed(condition: Condition, as_of: date) -> ColumnElement[int]:
    """The index of the first top-level part that fails (for a near miss, the only one)."""
    parts = top_level(condition)
    return case(*((not_(compile_condition(p, as_of)), i) for i, p in enumerate(parts)), else_=-1).cast(Integer)


def list_key(code: str) -> str:
    return f"list:{code}"


def facts_expr(policy: Policy, dialect: str) -> ColumnElement[Any]:
    """A JSON object built in the database: the enterprise's values of every field the policy uses
    (conditions and benefit tiers) and its membership of the policy's lists, stored with a match."""
    tiers = [t.when for t in policy.benefit.tiers]
    pairs: list[Any] = []
    for name in fields_in(policy.conditions, *tiers):
        pairs += [literal(name), _column(name)]
    for code in lists_in(policy.conditions, *tiers):
        pairs += [literal(list_key(code)), _in_list(code)]
    if dialect == "postgresql":
        return func.jsonb_build_object(*pairs)
    return func.json_object(*pairs)


def matching_ids(policy: Policy, as_of: date) -> Any:
    """``SELECT id FROM enterprises WHERE <conditions>``: the enterprises that meet ``policy``."""
    return select(ENTERPRISES.c.id).where(compile_condition(policy.conditions, as_of))
