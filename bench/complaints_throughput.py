"""Ticket creation: throughput and latency of POST /api/v1/complaints with N concurrent submitters,
on SQLite and on PostgreSQL, in the same run.

For each database it starts its own bot process (uvicorn, the production app; Rasa is not involved
in creating a ticket) on a free port, with a fresh database: a SQLite file in a temporary directory,
and a new PostgreSQL database created on --postgres-url's server and dropped at the end. The phases
alternate (sqlite, postgresql, sqlite, postgresql, ...) so machine noise hits both alike. In a
phase, N submitters each send complaints back to back (new idempotency key each, realistic texts,
half with a phone number) for --seconds; a request counts as an error unless it answers 201.

    cd /work/main && .venv/bin/python bench/complaints_throughput.py --users 50

Targets are reported, never asserted. Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], not the project
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402

from bench.chat_latency import command_line, machine, machine_line  # noqa: E402
from bot.launcher import free_port  # noqa: E402

TEXTS = [
    "跑了三趟都没办成，窗口说材料不全但又说不清缺啥",
    "办营业执照推来推去，市场监管说找税务，税务说找市场监管",
    "窗口工作人员态度太差，问两句就不耐烦",
    "公租房申请交了两个月了没有任何消息",
    "孩子上户口要开的证明太多，能不能简化",
    "路灯坏了一个多月没人修",
    "退休手续办了三个月养老金还没发",
    "餐馆油烟扰民，反映多次没有处理",
]
GUIDES = [None, None, "open_restaurant", "newborn", "public_rental_housing", "retirement"]


@dataclass
class Phase:
    database: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bot:
    """One bot process on a free port with the given database."""

    def __init__(self, name: str, database_url: str, log_dir: Path) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": database_url, "BOT_PORT": str(self.port), "PYTHONUNBUFFERED": "1",
               "RASA_URL": "http://127.0.0.1:9"}
        env.pop("WECHAT_TOKEN", None)
        env.pop("MP_APP_ID", None)
        self.log = open(log_dir / f"bot-{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bot.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bot ({self.name}) exited with {self.process.returncode}; see {self.log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"bot ({self.name}) not ready after {timeout:.0f}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        self.log.close()


async def submitter(client: httpx.AsyncClient, url: str, run: str, user: int, phase: Phase, until: float) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        body: dict[str, Any] = {
            "user_id": f"bench-{run}-{user}", "channel": "web", "idempotency_key": f"{run}-{user}-{n}",
            "text": TEXTS[(user + n) % len(TEXTS)], "guide_id": GUIDES[(user + n) % len(GUIDES)],
            "phone": f"138{(user * 7919 + n) % 10**8:08d}" if n % 2 else None,
        }
        started = time.perf_counter()
        try:
            response = await client.post(f"{url}/api/v1/complaints", json=body)
            ok = response.status_code == 201
            detail = f"{response.status_code} {response.text[:120]}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__} {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        if ok:
            phase.latencies.append(elapsed)
        else:
            phase.errors += 1
            if len(phase.error_samples) < 3:
                phase.error_samples.append(detail)


async def run_phase(bot: Bot, users: int, seconds: float, run: str) -> Phase:
    phase = Phase(bot.name)
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(submitter(client, bot.url, run, u, phase, until) for u in range(users)))
        phase.seconds = time.monotonic() - started
    return phase


def report(name: str, phases: list[Phase], cpu: float) -> dict[str, Any]:
    latencies = [x for p in phases for x in p.latencies]
    seconds = sum(p.seconds for p in phases)
    errors = sum(p.errors for p in phases)
    row = {
        "database": name, "tickets": len(latencies), "errors": errors,
        "tickets_per_s": len(latencies) / seconds if seconds else 0,
        "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
        "bot_cpu_ms_per_ticket": cpu * 1000 / len(latencies) if latencies else float("nan"),
        "error_samples": [s for p in phases for s in p.error_samples][:3],
    }
    print(f"{name:<11} {row['tickets']:>7} {errors:>6} {row['tickets_per_s']:>9.1f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
          f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} {row['bot_cpu_ms_per_ticket']:>8.2f}")
    for sample in row["error_samples"]:
        print(f"    error sample: {sample}")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent submitters")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of one phase")
    parser.add_argument("--rounds", type=int, default=2, help="phases per database, alternating")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://localhost/test"),
                        help="a database on the server to create the benchmark's database on")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    print(f"command: {command_line()}")
    print(f"machine: {machine_line(machine())}")
    print(f"date:    {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"load:    {args.users} submitters x {args.seconds:.0f}s x {args.rounds} rounds per database")

    run = secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix="bench-complaints-"))
    admin_url = make_url(args.postgres_url)
    pg_name = f"bench_complaints_{run}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    bots: dict[str, Bot] = {}
    results: dict[str, Any] = {}
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{pg_name}"'))
        urls = {"sqlite": f"sqlite:///{work}/bench.db",
                "postgresql": admin_url.set(database=pg_name).render_as_string(hide_password=False)}
        for name, url in urls.items():
            bots[name] = Bot(name, url, work)
        for bot in bots.values():
            bot.wait()
        print(f"bots:    {', '.join(f'{b.name} {b.url}' for b in bots.values())}; logs {work}")
        asyncio.run(run_phase(bots["sqlite"], 5, 2, run + "w"))  # warm-up, not recorded
        asyncio.run(run_phase(bots["postgresql"], 5, 2, run + "w"))
        phases: dict[str, list[Phase]] = {name: [] for name in bots}
        cpu = dict.fromkeys(bots, 0.0)
        for round_no in range(args.rounds):
            for name, bot in bots.items():
                before = cpu_seconds(bot.process.pid)
                phase = asyncio.run(run_phase(bot, args.users, args.seconds, f"{run}r{round_no}"))
                cpu[name] += cpu_seconds(bot.process.pid) - before
                phases[name].append(phase)
                print(f"  round {round_no + 1} {name:<11} {len(phase.latencies):>6} tickets {phase.errors:>4} errors "
                      f"{len(phase.latencies) / phase.seconds:>8.1f}/s  p50 {percentile(phase.latencies, 50):7.1f}  "
                      f"p99 {percentile(phase.latencies, 99):7.1f} ms")
        print(f"\n{'database':<11} {'tickets':>7} {'errors':>6} {'tickets/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'cpu ms':>8}")
        for name in bots:
            results[name] = report(name, phases[name], cpu[name])
        if results["sqlite"]["tickets_per_s"]:
            ratio = results["postgresql"]["tickets_per_s"] / results["sqlite"]["tickets_per_s"]
            print(f"throughput postgresql/sqlite: {ratio:.2f}x")
        if args.json:
            args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, default=str,
                                            ensure_ascii=False, indent=2))
            print(f"wrote {args.json}")
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        for bot in bots.values():
            bot.stop()
        with contextlib.suppress(Exception), admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
