"""免申即享 matching benchmark: N synthetic enterprises against every policy in force, in SQL on SQLite
and on PostgreSQL, beside the plain-Python reference evaluator over the same rows, in one run.

For each database: bulk-load N profiles (executemany on SQLite, COPY on PostgreSQL), then
1. ``sql-select``: for each policy, ``SELECT id FROM enterprises WHERE <compiled conditions>``, all
   ids fetched (the matching itself, inside the database);
2. ``full-run``: ``run_matching`` as the CLI and the nightly job do it (new matches with their facts
   written by INSERT ... SELECT, events, lapsed flags, near misses);
3. ``re-run``: the same again (idempotent: nothing new).
The reference evaluator reads the same rows into Python once (load time reported apart) and
evaluates every policy on every row; its matches are checked to be the SQL's.

    .venv/bin/python bench/policy_matching.py --enterprises 1000000 --json /tmp/bench-policies.json

PostgreSQL: a fresh database on BENCH_POSTGRES_URL (default postgresql+psycopg://localhost/test's
server), dropped at the end; skipped if none answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.policies import fields as f
from bot.policies.catalog import PolicyCatalog, build_policy_catalog
from bot.policies.conditions.compile import ENTERPRISES, LISTS, compile_condition
from bot.policies.conditions.reference import holds
from bot.policies.generator import bulk_insert
from bot.policies.matching import run_matching
from bot.store.db import make_engine, normalize_url, upgrade_database

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 22)
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://localhost/test")


def _time(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def sql_select(engine: Engine, catalog: PolicyCatalog) -> dict[str, set[int]]:
    out = {}
    with engine.connect() as conn:
        for policy in catalog.in_force(AS_OF):
            query = select(ENTERPRISES.c.id).where(compile_condition(policy.conditions, AS_OF))
            out[policy.id] = set(conn.execute(query).scalars())
    return out


def load_rows(engine: Engine) -> list[tuple[int, dict[str, Any], set[str]]]:
    names = [x.name for x in f.FIELDS]
    lists: dict[int, set[str]] = {}
    with engine.connect() as conn:
        for eid, code in conn.execute(select(LISTS.c.enterprise_id, LISTS.c.list_code)):
            lists.setdefault(eid, set()).add(code)
        rows = conn.execute(select(ENTERPRISES.c.id, *(ENTERPRISES.c[n] for n in names))).all()
    return [(r[0], dict(zip(names, r[1:], strict=True)), lists.get(r[0], set())) for r in rows]


def reference(rows: list[tuple[int, dict[str, Any], set[str]]], catalog: PolicyCatalog) -> dict[str, set[int]]:
    return {
        p.id: {eid for eid, values, lists in rows if holds(p.conditions, values, lists, AS_OF)} for p in catalog.in_force(AS_OF)
    }


def bench(name: str, engine: Engine, catalog: PolicyCatalog, n: int) -> dict[str, Any]:
    print(f"[{name}] loading {n} enterprises ...", flush=True)
    load_s, _ = _time(lambda: bulk_insert(engine, n, seed=42, today=AS_OF))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"[{name}] loaded in {load_s:.1f} s; matching in SQL ...", flush=True)
    select_s, matched = _time(lambda: sql_select(engine, catalog))
    full_s, run = _time(lambda: run_matching(engine, catalog, AS_OF, "bench"))
    rerun_s, rerun = _time(lambda: run_matching(engine, catalog, AS_OF, "bench"))
    print(f"[{name}] select {select_s:.1f} s, full run {full_s:.1f} s, re-run {rerun_s:.1f} s; reference ...", flush=True)
    read_s, rows = _time(lambda: load_rows(engine))
    ref_s, expected = _time(lambda: reference(rows, catalog))
    agree = expected == matched
    return {
        "database": name, "enterprises": n, "policies": len(matched), "load_s": load_s,
        "sql_select_s": select_s, "full_run_s": full_s, "rerun_s": rerun_s, "rerun_new": rerun.new,
        "reference_read_s": read_s, "reference_eval_s": ref_s, "agree": agree,
        "matches": sum(len(v) for v in matched.values()), "new_in_full_run": run.new,
        "near_misses": sum(p.near_misses for p in run.policies),
        "per_policy": {p.policy_id: p.as_dict() for p in run.policies},
    }


def postgres_engine() -> tuple[Engine, Engine, str] | None:
    admin = create_engine(normalize_url(POSTGRES_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError:
        admin.dispose()
        return None
    name = f"bench_policies_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name)
    upgrade_database(url)
    return admin, make_engine(url), name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    catalog = build_policy_catalog(ROOT / "guides")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        try:
            results.append(bench("sqlite", engine, catalog, args.enterprises))
        finally:
            engine.dispose()
    pg = None if args.skip_postgres else postgres_engine()
    if pg is not None:
        admin, engine, name = pg
        try:
            results.append(bench("postgresql", engine, catalog, args.enterprises))
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}"'))
            admin.dispose()
    print()
    print(f"command: .venv/bin/python bench/policy_matching.py --enterprises {args.enterprises}")
    print(f"machine: nproc {os.cpu_count()}, python {platform.python_version()}, load {os.getloadavg()}")
    print(f"date:    {datetime.now(UTC).isoformat(timespec='seconds')}; as of {AS_OF}; "
          f"{len(catalog.in_force(AS_OF))} policies in force")
    print(f"{'database':<11}{'load s':>9}{'select s':>10}{'full run s':>12}{'re-run s':>10}{'ref read s':>12}{'ref eval s':>12}"
          f"{'eval/select':>13}{'matches':>10}{'near':>9}  agree")
    for r in results:
        ratio = r["reference_eval_s"] / r["sql_select_s"] if r["sql_select_s"] else float("nan")
        print(f"{r['database']:<11}{r['load_s']:>9.1f}{r['sql_select_s']:>10.2f}{r['full_run_s']:>12.1f}{r['rerun_s']:>10.1f}"
              f"{r['reference_read_s']:>12.1f}{r['reference_eval_s']:>12.1f}{ratio:>12.1f}x{r['matches']:>10}{r['near_misses']:>9}"
              f"  {r['agree']}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if all(r["agree"] and r["rerun_new"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
