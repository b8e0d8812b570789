"""Push throughput: N 免申即享 notices sent by real worker processes against the loopback WeChat fake.

Setup, once: a fresh PostgreSQL database (on --postgres-url's server, dropped at the end) with
synthetic enterprises (bot.policies.generator), each bound to one user (odd: official account,
even: mini-program), matched as of today; exactly N notices are pending (any beyond N are
recorded as already told). The fake WeChat API (tests/fakes/wechat_api.py) serves on loopback in
this process and records the time each message arrives.

Then, for each configured rate and each number of workers (`python -m bot worker` processes, as
deployed, 10 jobs at a time each): the push log and the notifications are emptied, the tokens are
warm in Redis, the workers start, their start-up sweep enqueues the N notices (one arq job each),
and the run ends when the fake has all N. Reported per case:

- messages/s achieved: (N - 1) / (last arrival - first arrival) at the fake, and its ratio to the
  configured rate; "unlimited" is PUSH_RATE_LIMIT=1000000/second (the shared limiter is still
  consulted, as in production, but never makes a send wait);
- send latency p50/p99: per message, from its claim in the push log to the recorded send (claim,
  mark sending, wait for a rate slot, the call to the fake, record), from the push log;
- busiest: the most messages the fake saw within any one window of the rate's length;
- messages at the fake beyond N, and push log rows not ``sent`` (both should be 0).

    cd /work/main && .venv/bin/python bench/push_throughput.py --notices 2000 --rates 200/second,unlimited --workers 1,2

Targets are reported, never asserted. Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], not the project
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from limits import parse as parse_rate  # noqa: E402
from sqlalchemy import Engine, create_engine, delete, insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bench.chat_latency import command_line, machine, machine_line  # noqa: E402
from bot.channels.wechat.client import SharedTokenClient  # noqa: E402
from bot.policies.catalog import build_policy_catalog  # noqa: E402
from bot.policies.generator import bulk_insert  # noqa: E402
from bot.policies.matching import run_matching  # noqa: E402
from bot.policies.models import Binding, Enterprise, PolicyNotification  # noqa: E402
from bot.policies.service import pending_notifications  # noqa: E402
from bot.push.models import PushRecord  # noqa: E402
from bot.store.db import make_engine, normalize_url, upgrade_database  # noqa: E402
from bot.store.models import utcnow  # noqa: E402
from tests.fakes.wechat_api import FakeWeChatAPI  # noqa: E402

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
UNLIMITED = "1000000/second"
OA_APP, MP_APP, SECRET = f"wxoabench{secrets.token_hex(3)}", f"wxmpbench{secrets.token_hex(3)}", secrets.token_hex(8)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def fresh_database(server: str) -> tuple[Engine, str, str]:
    admin = create_engine(normalize_url(server), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"bench_push_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalize_url(server).set(database=name)
    upgrade_database(url)
    return make_engine(url), url.render_as_string(hide_password=False), name


def drop_database(server: str, name: str) -> None:
    admin = create_engine(normalize_url(server), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def setup(engine: Engine, notices: int, today: date) -> list[tuple[int, str, str]]:
    """Exactly ``notices`` pending; returns the (match, user, channel) of the others, told already."""
    bulk_insert(engine, notices, seed=7, today=today)
    with Session(engine) as session:
        ids = list(session.scalars(select(Enterprise.id).order_by(Enterprise.id)))
        session.execute(insert(Binding), [
            {"user_id": f"oBench{i:07d}", "channel": "wechat" if i % 2 else "mp", "enterprise_id": eid, "active": True,
             "verified_by": "test", "bound_at": utcnow()} for i, eid in enumerate(ids, 1)
        ])
        session.commit()
    catalog = build_policy_catalog(ROOT / "guides")
    run_matching(engine, catalog, today, "bench")
    with Session(engine) as session:
        pending = pending_notifications(session, catalog, today, limit=10 * notices)
    if len(pending) < notices:
        raise SystemExit(f"only {len(pending)} notices from {notices} enterprises; raise the count")
    return [(p.match_id, p.user_id, p.channel) for p in pending[notices:]]


def reset(engine: Engine, told: list[tuple[int, str, str]], prefix: str) -> None:
    with Session(engine) as session:
        session.execute(delete(PushRecord))
        session.execute(delete(PolicyNotification))
        if told:
            session.execute(insert(PolicyNotification), [
                {"match_id": m, "user_id": u, "channel": c, "notified_at": utcnow()} for m, u, c in told
            ])
        session.commit()
    clean_redis(prefix)


def clean_redis(prefix: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as r:
        for pattern in (f"{prefix}*", f"arq:*:{prefix}:*"):  # the case's keys and arq's for its jobs
            for key in r.scan_iter(pattern):
                r.delete(key)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_case(
    engine: Engine, url: str, fake: FakeWeChatAPI, told: list[tuple[int, str, str]], notices: int, rate: str,
    workers: int, logs: Path, timeout: float,
) -> dict[str, Any]:
    prefix = f"benchpush{secrets.token_hex(3)}"
    reset(engine, told, prefix)
    fake.reset()
    with redis.Redis.from_url(REDIS_URL) as r:  # warm tokens, as a running deployment has
        for app in (OA_APP, MP_APP):
            SharedTokenClient(app, SECRET, fake.url, r).fetch_access_token()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "MP_", "PUSH_"))}
    env.update({
        "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix, "WECHAT_API_BASE_URL": fake.url,
        "WECHAT_APP_ID": OA_APP, "WECHAT_APP_SECRET": SECRET, "MP_APP_ID": MP_APP, "MP_APP_SECRET": SECRET,
        "SESSION_SECRET": secrets.token_hex(16), "WECHAT_TEMPLATE_POLICY_NOTICE": "TPL-BENCH",
        "MP_TEMPLATE_POLICY_NOTICE": "SUB-BENCH", "MP_POLICY_PAGE": "pages/policies/detail",
        "PUSH_RATE_LIMIT": UNLIMITED if rate == "unlimited" else rate, "PUSH_SWEEP_BATCH": str(notices),
        "PUSH_QUIET_HOURS": "",
    })
    processes = [start_worker(env, logs / f"{prefix}-{i}.log") for i in range(workers)]
    deadline = time.monotonic() + timeout
    try:
        while len(fake.sent()) < notices and time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                raise SystemExit(f"a worker exited; see {logs}")
            time.sleep(0.2)
        time.sleep(1.0)  # anything beyond N would show now
    finally:
        stop(processes)
        clean_redis(prefix)
    sent = [m for m in fake.sent() if m["kind"] in ("template", "subscribe")]
    times = sorted(m["time"] for m in sent)
    with Session(engine) as session:
        rows = session.execute(select(PushRecord.status, PushRecord.created_at, PushRecord.sent_at)).all()
    latencies = [(s - c).total_seconds() * 1000 for status, c, s in rows if status == "sent" and s is not None]
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span if span else float("nan")
    item = None if rate == "unlimited" else parse_rate(rate)
    configured = item.amount / item.get_expiry() if item else None
    # The most messages the fake saw within any one window of the configured rate's length.
    period = item.get_expiry() if item else 1.0
    busiest = max((bisect.bisect_left(times, t + period) - i for i, t in enumerate(times)), default=0)
    return {
        "rate": rate, "workers": workers, "notices": notices, "arrived": len(sent), "beyond_n": max(0, len(sent) - notices),
        "not_sent": sum(1 for status, _, _ in rows if status != "sent"), "span_s": span, "achieved_per_s": achieved,
        "ratio_to_configured": achieved / configured if configured else None,
        "busiest_window": busiest, "window_s": period, "window_limit": item.amount if item else None,
        "latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                       "mean": statistics.fmean(latencies) if latencies else float("nan")},
        "timed_out": len(sent) < notices,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--rates", default="200/second,unlimited", help="comma-separated: limits' notation or 'unlimited'")
    parser.add_argument("--workers", default="1,2", help="comma-separated numbers of worker processes")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per case at most")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # Stopped from outside: still stop the workers and drop the database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rates = [r.strip() for r in args.rates.split(",") if r.strip()]
    counts = [int(w) for w in args.workers.split(",")]
    today = date.today()
    info = machine()
    print(f"command: {command_line()}")
    print(f"machine: {machine_line(info)}")
    engine, url, name = fresh_database(args.postgres_url)
    results: list[dict[str, Any]] = []
    try:
        with FakeWeChatAPI({OA_APP: SECRET, MP_APP: SECRET}) as fake, tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            told = setup(engine, args.notices, today)
            print(f"setup: {args.notices} enterprises bound, {args.notices} notices pending "
                  f"({len(told)} more recorded as told) in {time.perf_counter() - started:.1f} s")
            for rate in rates:
                for workers in counts:
                    result = run_case(engine, url, fake, told, args.notices, rate, workers, Path(tmp), args.timeout)
                    results.append(result)
                    print(f"  {rate:>16} x{workers}: {result['achieved_per_s']:.0f}/s", flush=True)
    finally:
        engine.dispose()
        drop_database(args.postgres_url, name)
    print(f"{'rate':>16} {'workers':>7} {'arrived':>7} {'msg/s':>8} {'/config':>8} {'busiest':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'extra':>5} {'not sent':>8}")
    for r in results:
        ratio = f"{r['ratio_to_configured']:.2f}" if r["ratio_to_configured"] is not None else "-"
        busiest = f"{r['busiest_window']}/{r['window_limit'] or '-'}"
        print(f"{r['rate']:>16} {r['workers']:>7} {r['arrived']:>7} {r['achieved_per_s']:>8.1f} {ratio:>8} {busiest:>8} "
              f"{r['latency_ms']['p50']:>8.1f} {r['latency_ms']['p99']:>8.1f} {r['beyond_n']:>5} {r['not_sent']:>8}")
    print("busiest: most messages at the fake within any one window of the rate's length (1 s for unlimited) / the limit")
    by = {(r["rate"], r["workers"]): r["achieved_per_s"] for r in results}
    for rate in rates:
        if (rate, 1) in by and (rate, 2) in by:
            print(f"2 workers / 1 worker at {rate}: {by[(rate, 2)] / by[(rate, 1)]:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "command": command_line(), "results": results}, indent=2,
                                        default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
