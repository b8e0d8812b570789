"""The compiled SQL and the plain-Python reference evaluator give the same answer: for generated
conditions over every field and operator (and lists, all / any / not) on generated profiles with
missing values and values on the boundaries, on SQLite and on PostgreSQL. Near misses too."""

from __future__ import annotations

import warnings
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SAWarning

from bot.policies import fields as f
from bot.policies import uscc
from bot.policies.conditions import near_miss_parts
from bot.policies.conditions.compile import ENTERPRISES, LISTS, compile_condition, failed_count, first_failed
from bot.policies.conditions.reference import failed_parts, holds, near_miss_part
from bot.policies.schema import AllOf, FieldIs
from bot.store.models import utcnow
from tests.policies.conftest import TODAY

warnings.filterwarnings("ignore", category=SAWarning)  # SQLite's Decimal note: values here have two places at most

LISTS_CODES = ("list_a", "list_b")
# Small domains around the operands, so comparisons often land on the boundary.
INTS = st.integers(min_value=0, max_value=40)
DECIMALS = st.sampled_from([Decimal(x) for x in ("0", "5.49", "5.5", "5.51", "12", "20", "20.01", "99.99")])
DATES = st.sampled_from([
    date(2020, 2, 29), date(2023, 11, 22), date(2023, 11, 23), date(2024, 2, 29), date(2025, 11, 22),
    date(2025, 11, 23), date(2026, 1, 1), date(2026, 11, 22), date(2016, 11, 22),
])
CODE_VALUES = {"industry": ["C3011", "C3425", "C34", "I6510", "F5211", "A"], "region": ["410102", "410522", "411302"]}


def value_strategy(spec: f.Field) -> st.SearchStrategy[Any]:
    if spec.type == "enum":
        return st.sampled_from(spec.choices)
    if spec.type == "code":
        return st.sampled_from(CODE_VALUES[spec.name])
    if spec.type == "int":
        return INTS
    if spec.type == "decimal":
        return DECIMALS
    if spec.type == "date":
        return DATES
    return st.booleans()


def profile_strategy() -> st.SearchStrategy[tuple[dict[str, Any], list[str]]]:
    values = st.fixed_dictionaries({spec.name: st.one_of(st.none(), value_strategy(spec)) for spec in f.FIELDS})
    lists = st.lists(st.sampled_from(LISTS_CODES), unique=True)
    return st.tuples(values, lists)


@st.composite
def leaf(draw: st.DrawFn) -> dict[str, Any]:
    spec = draw(st.sampled_from(f.FIELDS))
    ops = ["equals", "in", "exists"]
    if spec.type in ("int", "decimal", "date"):
        ops += ["gt", "ge", "lt", "le", "between"]
    if spec.type == "code":
        ops += ["prefix"]
    if spec.type == "date":
        ops += ["within_last_years", "at_least_years_ago"]
    op = draw(st.sampled_from(ops))
    node: dict[str, Any] = {"field": spec.name}
    if op == "in":
        node["in"] = draw(st.lists(value_strategy(spec), min_size=1, max_size=3))
    elif op == "between":
        a, b = sorted([draw(value_strategy(spec)), draw(value_strategy(spec))])
        node["between"] = [a, b]
    elif op == "prefix":
        node["prefix"] = draw(st.lists(st.sampled_from(["C", "C34", "I65", "F", "41", "4105", "4113"]), min_size=1, max_size=2)
                              .filter(lambda ps: all((p[0].isalpha()) == (spec.name == "industry") for p in ps)))
    elif op == "exists":
        node["exists"] = draw(st.booleans())
    elif op in ("within_last_years", "at_least_years_ago"):
        node[op] = draw(st.integers(min_value=1 if op == "within_last_years" else 0, max_value=10))
    else:
        node[op] = draw(value_strategy(spec))
    return node


def condition_strategy() -> st.SearchStrategy[dict[str, Any]]:
    base = st.one_of(leaf(), st.sampled_from(LISTS_CODES).map(lambda c: {"in_list": c}))
    return st.recursive(
        base,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=4).map(lambda cs: {"all": cs}),
            st.lists(children, min_size=1, max_size=4).map(lambda cs: {"any": cs}),
            children.map(lambda c: {"not": c}),
        ),
        max_leaves=8,
    )


def _condition(raw: dict[str, Any]) -> Any:
    # Parsed the way a policy file is: through the schema, with its typing of the operands.
    return AllOf.model_validate({"all": [raw]}).all[0]


def _load(engine: Engine, profiles: list[tuple[dict[str, Any], list[str]]]) -> list[int]:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(LISTS))
        conn.execute(delete(ENTERPRISES))
        ids = []
        for i, (values, lists) in enumerate(profiles):
            code = uscc.with_check_digit(f"91410100{i:09d}")
            eid = conn.execute(
                insert(ENTERPRISES).values(uscc=code, name=f"测试{i}", imported_at=now, updated_at=now, **values)
                .returning(ENTERPRISES.c.id)
            ).scalar_one()
            ids.append(eid)
            for c in lists:
                conn.execute(insert(LISTS).values(enterprise_id=eid, list_code=c))
    return ids


def _check(engine: Engine, profiles: list[tuple[dict[str, Any], list[str]]], raws: list[dict[str, Any]]) -> None:
    ids = _load(engine, profiles)
    condition = _condition(raws[0]) if len(raws) == 1 else AllOf.model_validate({"all": raws})
    with engine.connect() as conn:
        got = set(conn.execute(select(ENTERPRISES.c.id).where(compile_condition(condition, TODAY))).scalars())
        rows = conn.execute(select(
            ENTERPRISES.c.id, failed_count(condition, TODAY), first_failed(condition, TODAY)
        )).all()
    expected = {eid for eid, (values, lists) in zip(ids, profiles, strict=True) if holds(condition, values, lists, TODAY)}
    assert got == expected
    by_id = dict(zip(ids, profiles, strict=True))
    for eid, failed, first in rows:
        values, lists = by_id[eid]
        reference = failed_parts(condition, values, lists, TODAY)
        assert failed == len(reference)
        assert first == (reference[0] if reference else -1)
        sql_near = first if failed == 1 and first in near_miss_parts(condition) else None
        assert sql_near == near_miss_part(condition, values, lists, TODAY)


PROFILES = st.lists(profile_strategy(), min_size=1, max_size=8)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@SETTINGS
@given(profiles=PROFILES, raw=condition_strategy())
def test_sql_matches_reference(engine: Engine, profiles: list[tuple[dict[str, Any], list[str]]], raw: dict[str, Any]) -> None:
    _check(engine, profiles, [raw])


@SETTINGS
@given(profiles=PROFILES, raws=st.lists(condition_strategy(), min_size=2, max_size=4))
def test_top_level_parts_and_near_misses_match_reference(
    engine: Engine, profiles: list[tuple[dict[str, Any], list[str]]], raws: list[dict[str, Any]],
) -> None:
    _check(engine, profiles, raws)


def test_shipped_policies_agree_on_generated_enterprises(engine: Engine, catalog: Any) -> None:
    from bot.policies.generator import generate

    profiles = [(dict(r), lists) for r, lists in generate(400, seed=7, today=TODAY)]
    for values, _ in profiles:
        for key in ("uscc", "name", "legal_rep", "contact_phone", "data_as_of"):
            values.pop(key)
    ids = _load(engine, profiles)
    by_id = dict(zip(ids, profiles, strict=True))
    for policy in catalog.policies.values():
        with engine.connect() as conn:
            got = set(conn.execute(select(ENTERPRISES.c.id).where(compile_condition(policy.conditions, TODAY))).scalars())
        expected = {i for i, (v, lists) in by_id.items() if holds(policy.conditions, v, lists, TODAY)}
        assert got == expected, policy.id


def test_missing_data_never_matches_a_comparison() -> None:
    leaf_ = FieldIs.model_validate({"field": "insured_count", "le": 30})
    assert not holds(leaf_, {"insured_count": None}, [], TODAY)
    assert holds(_condition({"not": {"field": "insured_count", "le": 30}}), {}, [], TODAY)
