"""系统智审: match every policy in force against every enterprise, inside the database.

For each policy, one transaction of set-based statements (no enterprise row comes into Python):

1. ``INSERT INTO policy_matches ... SELECT ... FROM enterprises WHERE <conditions> ON CONFLICT DO
   NOTHING``: new matches, each with the facts (the enterprise's values the policy looks at) built
   as JSON by the database; existing matches are left as they are, so re-runs are idempotent and
   only the new ones are ever notified;
2. a ``matched`` event per new match (who: the run, when: now);
3. ``current`` updated: false for matches that no longer hold (the data changed), true again for
   those that hold again; only current matches are offered for notification;
4. near misses (条件类): replaced by the enterprises that fail exactly one top-level condition,
   with which one.

``python -m bot policies match`` and the worker's cron job call ``run_matching``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Boolean, Connection, Engine, Integer, String, delete, exists, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.complaints.calendar import beijing_today
from bot.policies.catalog import PolicyCatalog
from bot.policies.conditions import near_miss_parts
from bot.policies.conditions.compile import ENTERPRISES, compile_condition, facts_expr, failed_count, first_failed
from bot.policies.models import MatchRun, MatchStatus, NearMiss, PolicyMatch, PolicyMatchEvent
from bot.policies.schema import Policy
from bot.store.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)

MATCHES = PolicyMatch.__table__
EVENTS = PolicyMatchEvent.__table__
NEAR = NearMiss.__table__
RUNS = MatchRun.__table__


@dataclass
class PolicyResult:
    policy_id: str
    matched: int = 0  # current matches after the run
    new: int = 0
    lapsed: int = 0  # matched before, not any more
    near_misses: int = 0
    ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "new": self.new, "lapsed": self.lapsed, "near_misses": self.near_misses,
                "ms": round(self.ms, 1)}


@dataclass
class RunResult:
    run_id: int
    as_of: date
    policies: list[PolicyResult] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(p.new for p in self.policies)


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def match_policy(conn: Connection, policy: Policy, as_of: date, run_id: int) -> PolicyResult:
    """Steps 1-4 of the module docstring for one policy, on ``conn`` (the caller commits)."""
    started = time.perf_counter()
    result = PolicyResult(policy.id)
    now = utcnow()
    condition = compile_condition(policy.conditions, as_of)
    facts = facts_expr(policy, conn.dialect.name)
    new_matches = select(
        literal(policy.id, String()), ENTERPRISES.c.id, literal(MatchStatus.MATCHED.value, String()), literal(True, Boolean()),
        facts, literal(run_id, Integer()), literal(now, UTCDateTime()), literal(now, UTCDateTime()),
    ).where(condition)
    statement = _insert(conn, MATCHES).from_select(
        ["policy_id", "enterprise_id", "status", "current", "facts", "run_id", "matched_at", "updated_at"], new_matches
    ).on_conflict_do_nothing(index_elements=["policy_id", "enterprise_id"])
    conn.execute(statement)
    # Counted, not taken from rowcount: psycopg reports -1 for an INSERT ... SELECT that inserted nothing.
    result.new = conn.execute(
        select(func.count()).select_from(MATCHES).where(MATCHES.c.policy_id == policy.id, MATCHES.c.run_id == run_id)
    ).scalar_one()
    if result.new:
        conn.execute(insert(EVENTS).from_select(
            ["match_id", "from_status", "to_status", "actor_type", "actor", "created_at"],
            select(
                MATCHES.c.id, literal(None, String()), literal(MatchStatus.MATCHED.value, String()), literal("system", String()),
                literal(f"system:match-run:{run_id}", String()), literal(now, UTCDateTime()),
            ).where(MATCHES.c.policy_id == policy.id, MATCHES.c.run_id == run_id),
        ))
    # EXISTS, not IN (subquery): PostgreSQL runs NOT IN over a large subquery row by row once the
    # subquery outgrows work_mem (quadratic), while NOT EXISTS becomes a hash anti-join.
    holds_now = exists(select(literal(1)).where(ENTERPRISES.c.id == MATCHES.c.enterprise_id, condition))
    result.lapsed = conn.execute(
        update(MATCHES)
        .where(MATCHES.c.policy_id == policy.id, MATCHES.c.current.is_(True), ~holds_now)
        .values(current=False, updated_at=now)
    ).rowcount or 0
    conn.execute(
        update(MATCHES)
        .where(MATCHES.c.policy_id == policy.id, MATCHES.c.current.is_(False), holds_now)
        .values(current=True, updated_at=now)
    )
    result.matched = conn.execute(
        select(func.count()).select_from(MATCHES).where(MATCHES.c.policy_id == policy.id, MATCHES.c.current.is_(True))
    ).scalar_one()
    conn.execute(delete(NEAR).where(NEAR.c.policy_id == policy.id))
    parts = near_miss_parts(policy.conditions)
    if policy.reports_near_misses and parts:
        missed = first_failed(policy.conditions, as_of)
        near = select(
            literal(policy.id, String()), ENTERPRISES.c.id, missed, facts, literal(run_id, Integer()),
        ).where(failed_count(policy.conditions, as_of) == 1, missed.in_(parts))
        conn.execute(insert(NEAR).from_select(["policy_id", "enterprise_id", "part", "facts", "run_id"], near))
        result.near_misses = conn.execute(
            select(func.count()).select_from(NEAR).where(NEAR.c.policy_id == policy.id)
        ).scalar_one()
    result.ms = (time.perf_counter() - started) * 1000
    return result


def run_matching(
    engine: Engine, catalog: PolicyCatalog, as_of: date | None = None, trigger: str = "cli",
    policy_ids: list[str] | None = None,
) -> RunResult:
    """A full run: every policy in force on ``as_of`` (default today), each in its own transaction."""
    as_of = as_of or beijing_today()
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(RUNS).values(as_of=as_of, trigger=trigger, started_at=utcnow(), stats={}).returning(RUNS.c.id)
        ).scalar_one()
    result = RunResult(run_id, as_of)
    for policy in catalog.in_force(as_of):
        if policy_ids and policy.id not in policy_ids:
            continue
        with engine.begin() as conn:
            outcome = match_policy(conn, policy, as_of, run_id)
        result.policies.append(outcome)
        log.info("policy %s: %d matched (%d new, %d lapsed), %d near misses, %.0f ms",
                 policy.id, outcome.matched, outcome.new, outcome.lapsed, outcome.near_misses, outcome.ms)
    with engine.begin() as conn:
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(
            finished_at=utcnow(), stats={p.policy_id: p.as_dict() for p in result.policies},
        ))
    return result
