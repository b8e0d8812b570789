"""Chat turn latency: the bot's POST /api/v1/chat against the bare Rasa REST webhook, same run.

Starts its own Stack (Rasa, action server, bot) on free ports with a Redis tracker store under a
unique key prefix, warms it up, then lets N simulated users run guided conversations
concurrently: say an utterance, tap the choice whose payload contains '"all"', then tap the first
choice of each question until the checklist arrives (at most --max-turns turns). The very same
conversations (same texts, same payload strings, new sender ids) are run against Rasa's
/webhooks/rest/webhook, reading the choices from the "custom" entries Rasa returns. The phases
alternate (bot, rasa, bot, rasa, ...) so that machine noise hits both targets alike. Without
--think-ms a user sends the next turn as soon as the reply arrives (a saturation test).

    cd /work/main && .venv/bin/python bench/chat_latency.py --users 20 --conversations 3

Note: the action server calls back into the bot (/api/v1/dialogue/...) for every guided step,
so the "rasa" target also exercises the bot's dialogue endpoints; what the ratio bot/rasa shows
is the cost of the extra hop through /api/v1/chat.

See bench/README.md for results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import secrets
import shlex
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], not the project
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from bot.launcher import LaunchError, Stack, ensure_redis, redis_answers  # noqa: E402
from bot.training import generate_lookups, model_path, training_hash  # noqa: E402

UTTERANCES = [
    "娃刚生下来要办啥手续",
    "开个小饭馆要跑哪些部门",
    "俺爹今年要退休了，手续咋办",
    "想用公积金贷款买房",
    "申请公租房要啥材料",
]
# What the action server sends when the bot's dialogue endpoints fail (actions/common.py).
SORRY_TEXT = "系统有点忙"
TARGETS = ("bot", "rasa")
# Targets to report against (printed as pass/miss, never asserted).
TARGET_P50_RATIO = 2.0
TARGET_P99_MS = 300.0
TARGET_USERS = 20
TARGET_CORES = 2


# ---------------------------------------------------------------------------------------------
# The two ways of talking to the assistant


class Target:
    name = ""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url

    async def send(self, sender: str, *, text: str | None = None, payload: str | None = None) -> list[dict]:
        raise NotImplementedError


class BotTarget(Target):
    name = "bot"

    async def send(self, sender: str, *, text: str | None = None, payload: str | None = None) -> list[dict]:
        body = {"user_id": sender, "text": text} if text is not None else {"user_id": sender, "payload": payload}
        response = await self.client.post(f"{self.base_url}/api/v1/chat", json=body)
        response.raise_for_status()
        return response.json()["messages"]


class RasaTarget(Target):
    name = "rasa"

    async def send(self, sender: str, *, text: str | None = None, payload: str | None = None) -> list[dict]:
        message = text if text is not None else payload
        response = await self.client.post(
            f"{self.base_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}
        )
        response.raise_for_status()
        output = response.json()
        messages: list[dict] = []
        for entry in output if isinstance(output, list) else []:
            if isinstance(entry.get("custom"), dict):
                messages.append(entry["custom"])
            elif entry.get("text"):
                messages.append({"type": "text", "text": entry["text"]})
        return messages


# ---------------------------------------------------------------------------------------------
# Conversations and what they record


@dataclass
class Turn:
    target: str
    round: int
    kind: str  # say | all | answer
    ms: float
    ok: bool


@dataclass
class Outcome:
    target: str
    round: int
    user: int
    conversation: int
    utterance: str
    sent: list[str] = field(default_factory=list)
    result: str = "incomplete"  # checklist | no_all_choice | no_choices | max_turns | error | sorry | capped


class Budget:
    """The total turn cap, shared by every user of every phase."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.cap:
            return False
        self.used += 1
        return True


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m.get("type") == kind]


def last_choices(messages: list[dict]) -> list[dict]:
    found = of_type(messages, "choices")
    return found[-1].get("choices", []) if found else []


async def converse(
    target: Target, sender: str, utterance: str, outcome: Outcome, turns: list[Turn] | None,
    budget: Budget | None, max_turns: int, think: float = 0.0,
) -> None:
    """One guided conversation, to the checklist or until something stops it."""

    async def turn(kind: str, *, text: str | None = None, payload: str | None = None) -> list[dict] | None:
        if budget is not None and not budget.take():
            outcome.result = "capped"
            return None
        if think and outcome.sent:
            await asyncio.sleep(think)  # the user reads the reply before answering (not part of the latency)
        outcome.sent.append(text if text is not None else f"{payload}")
        start = time.perf_counter()
        try:
            messages = await target.send(sender, text=text, payload=payload)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            elapsed = (time.perf_counter() - start) * 1000
            if turns is not None:
                turns.append(Turn(target.name, outcome.round, kind, elapsed, False))
            outcome.result = f"error: {type(exc).__name__}: {str(exc)[:120]}"
            return None
        elapsed = (time.perf_counter() - start) * 1000
        sorry = any(SORRY_TEXT in m.get("text", "") for m in messages)
        if turns is not None:
            turns.append(Turn(target.name, outcome.round, kind, elapsed, not sorry))
        if sorry:
            outcome.result = "sorry"
            return None
        return messages

    messages = await turn("say", text=utterance)
    if messages is None:
        return
    pick = next((c["payload"] for c in last_choices(messages) if '"all"' in c.get("payload", "")), None)
    if pick is None:
        outcome.result = "no_all_choice"
        return
    messages = await turn("all", payload=pick)
    while messages is not None:
        if of_type(messages, "checklist"):
            outcome.result = "checklist"
            return
        if len(outcome.sent) >= max_turns:
            outcome.result = "max_turns"
            return
        options = last_choices(messages)
        if not options:
            outcome.result = "no_choices"
            return
        messages = await turn("answer", payload=options[0]["payload"])


# ---------------------------------------------------------------------------------------------
# CPU accounting: which process spent the time


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def redis_cpu_seconds(client: redis.Redis) -> float | None:
    try:
        info = client.info("cpu")
    except redis.RedisError:
        return None
    return float(info.get("used_cpu_user", 0)) + float(info.get("used_cpu_sys", 0))


def machine_busy_seconds() -> float | None:
    """CPU seconds every process of the machine has spent (all of /proc/stat's cpu line but idle and iowait)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(stack: Stack, redis_client: redis.Redis) -> dict[str, float | None]:
    snap: dict[str, float | None] = {name: proc_cpu_seconds(p.pid) for name, p in stack.processes.items()}
    snap["redis"] = redis_cpu_seconds(redis_client)
    snap["loadgen"] = time.process_time()
    snap["_machine"] = machine_busy_seconds()
    return snap


def cpu_delta(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    """CPU seconds per process between two snapshots; "other" is what the rest of the machine spent."""
    delta = {k: after[k] - v for k, v in before.items() if v is not None and after.get(k) is not None}  # type: ignore[operator]
    machine_total = delta.pop("_machine", None)
    if machine_total is not None:
        delta["other"] = max(0.0, machine_total - sum(delta.values()))
    return delta


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(turns: list[Turn], wall: float) -> dict[str, Any]:
    ms = [t.ms for t in turns if t.ok]
    return {
        "turns": len(turns),
        "errors": sum(not t.ok for t in turns),
        "wall_s": round(wall, 3),
        "turns_per_s": round(len(turns) / wall, 2) if wall > 0 else None,
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
    }


# ---------------------------------------------------------------------------------------------
# Machine and stack


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def machine_line(info: dict[str, Any]) -> str:
    return (f"nproc {info['nproc']}, {info['cpu_model']}, {info['mem_gib']} GiB, "
            f"kernel {info['kernel']}, python {info['python']}, load {info['loadavg_at_start']}")


def command_line() -> str:
    """The exact command that ran this script, to paste back into a shell."""
    return f"cd {shlex.quote(os.getcwd())} && " + shlex.join(
        [os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable,
         *sys.argv])


def free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in ports:
            ports.append(port)
    return ports


def find_model(explicit: str | None) -> Path:
    """The trained model for the current inputs; never trains (that is `python -m bot train`)."""
    if explicit:
        path = Path(explicit)
    else:
        generate_lookups(ROOT / "guides")
        path = model_path(training_hash())
    if not path.exists():
        raise SystemExit(
            f"no trained model at {path}\n"
            "train it first: cd /work/main && .venv/bin/python -m bot train   (or pass --model PATH)"
        )
    return path


def delete_keys(client: redis.Redis, prefix: str) -> int:
    return delete_matching(client, f"{prefix}:*")


def delete_matching(client: redis.Redis, match: str) -> int:
    """Delete every key matching the glob pattern `match` (SCAN, in batches); how many were deleted."""
    deleted = 0
    with contextlib.suppress(redis.RedisError):
        batch = []
        for key in client.scan_iter(match=match, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
    return deleted


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Phase:
    target: str
    round: int
    wall: float
    turns: list[Turn]
    outcomes: list[Outcome]
    cpu: dict[str, float]
    cut_short: bool


def sender_id(run_id: str, target: str, label: str) -> str:
    return f"bench-{run_id}-{target}-{label}"


async def run_phase(
    target: Target, round_no: int, args: argparse.Namespace, run_id: str, budget: Budget, deadline: float,
    *, talk: Callable[..., Awaitable[None]] | None = None, sender: Callable[[str, str, str], str] = sender_id,
) -> tuple[list[Turn], list[Outcome], float, bool]:
    """``args.users`` users, each through ``args.conversations`` conversations; ``talk`` is the conversation
    (``converse`` by default; the WeChat benchmark passes its own), ``sender`` names each conversation's user."""
    talk = talk or converse
    turns: list[Turn] = []
    outcomes: list[Outcome] = []

    think = args.think_ms / 1000

    async def user(u: int) -> None:
        if think:
            await asyncio.sleep(think * u / args.users)  # spread the users' turns over the think time
        for c in range(args.conversations):
            utterance = UTTERANCES[(u * args.conversations + c) % len(UTTERANCES)]
            outcome = Outcome(target.name, round_no, u, c, utterance)
            outcomes.append(outcome)
            if think and c:
                await asyncio.sleep(think)
            await talk(target, sender(run_id, target.name, f"r{round_no}-u{u}-c{c}"), utterance, outcome, turns, budget,
                       args.max_turns, think)
            if outcome.result == "capped":
                return

    start = time.perf_counter()
    cut_short = False
    try:
        await asyncio.wait_for(
            asyncio.gather(*(user(u) for u in range(args.users))), timeout=max(1.0, deadline - time.monotonic())
        )
    except TimeoutError:
        cut_short = True
    return turns, outcomes, time.perf_counter() - start, cut_short


async def warm_up(
    targets: Mapping[str, Target], run_id: str, args: argparse.Namespace, *,
    talk: Callable[..., Awaitable[None]] | None = None, sender: Callable[[str, str, str], str] = sender_id,
    burst: int = 10,
) -> list[str]:
    """Every utterance once through each target, then a concurrent burst of up to ``burst`` users; nothing recorded."""
    talk = talk or converse
    problems: list[str] = []
    for name, target in targets.items():
        for i, utterance in enumerate(UTTERANCES):
            outcome = Outcome(name, 0, 0, i, utterance)
            await talk(target, sender(run_id, name, f"warm{i}"), utterance, outcome, None, None, args.max_turns)
            if not outcome.result.startswith("checklist"):
                problems.append(f"warm-up {name} {utterance!r}: {outcome.result} after {len(outcome.sent)} turns")
    for name, target in targets.items():
        users = [Outcome(name, 0, u, 0, UTTERANCES[u % len(UTTERANCES)]) for u in range(min(args.users, burst))]
        await asyncio.gather(*(
            talk(target, sender(run_id, name, f"burst{o.user}"), o.utterance, o, None, None, args.max_turns)
            for o in users
        ))
    return problems


async def measure(stack: Stack, args: argparse.Namespace, run_id: str, redis_client: redis.Redis) -> list[Phase]:
    timeout = httpx.Timeout(args.timeout)
    limits = httpx.Limits(max_connections=max(100, args.users * 2), max_keepalive_connections=max(20, args.users))
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as bot_client, \
            httpx.AsyncClient(timeout=timeout, limits=limits) as rasa_client:
        targets: dict[str, Target] = {
            "bot": BotTarget(bot_client, stack.bot_url),
            "rasa": RasaTarget(rasa_client, stack.rasa_url),
        }
        print("warming up ...", flush=True)
        for problem in await warm_up(targets, run_id, args):
            print(f"  warning: {problem}", flush=True)

        budget = Budget(args.max_total_turns)
        deadline = time.monotonic() + args.max_seconds
        phases: list[Phase] = []
        for round_no in range(1, args.rounds + 1):
            for name in TARGETS:
                if time.monotonic() >= deadline or budget.used >= budget.cap:
                    print(f"  stopping early: {'time limit' if time.monotonic() >= deadline else 'turn cap'} reached")
                    return phases
                before = cpu_snapshot(stack, redis_client)
                turns, outcomes, wall, cut = await run_phase(targets[name], round_no, args, run_id, budget, deadline)
                cpu = cpu_delta(before, cpu_snapshot(stack, redis_client))
                phases.append(Phase(name, round_no, wall, turns, outcomes, cpu, cut))
                s = summarize(turns, wall)
                print(
                    f"  round {round_no} {name:<4}  {s['turns']:>5} turns  {s['turns_per_s']:>7} turns/s  "
                    f"p50 {s['p50_ms']:>7.1f}  p95 {s['p95_ms']:>7.1f}  p99 {s['p99_ms']:>7.1f} ms"
                    f"{'  (cut short by --max-seconds)' if cut else ''}",
                    flush=True,
                )
        return phases


def report(phases: list[Phase], args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {"targets": {}, "rounds": [], "by_kind": {}, "cpu_ms_per_turn": {}, "outcomes": {}}
    for p in phases:
        results["rounds"].append({"target": p.target, "round": p.round, **summarize(p.turns, p.wall),
                                  "cut_short": p.cut_short})
    for name in TARGETS:
        mine = [p for p in phases if p.target == name]
        turns = [t for p in mine for t in p.turns]
        wall = sum(p.wall for p in mine)
        results["targets"][name] = summarize(turns, wall)
        results["by_kind"][name] = {
            kind: {"turns": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1)}
            for kind in ("say", "all", "answer")
            if (ms := [t.ms for t in turns if t.kind == kind and t.ok])
        }
        cpu: dict[str, float] = {}
        for p in mine:
            for k, v in p.cpu.items():
                cpu[k] = cpu.get(k, 0.0) + v
        results["cpu_ms_per_turn"][name] = {k: round(v * 1000 / len(turns), 1) for k, v in cpu.items()} if turns else {}
        results["cpu_ms_per_turn"][name]["machine_busy_pct"] = (
            round(100 * sum(cpu.values()) / (wall * info["nproc"]), 1) if wall and info["nproc"] else None
        )
        counts: dict[str, int] = {}
        for o in (o for p in mine for o in p.outcomes):
            key = o.result.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
        results["outcomes"][name] = counts

    # Same conversations on both targets: compare what was sent, slot by slot.
    sequences: dict[tuple[int, int, int], dict[str, list[str]]] = {}
    for p in phases:
        for o in p.outcomes:
            sequences.setdefault((o.round, o.user, o.conversation), {})[o.target] = o.sent
    pairs = [v for v in sequences.values() if len(v) == 2]
    results["same_conversations"] = {"pairs": len(pairs), "identical": sum(v["bot"] == v["rasa"] for v in pairs)}

    bot, rasa = results["targets"]["bot"], results["targets"]["rasa"]
    ratio50 = bot["p50_ms"] / rasa["p50_ms"] if rasa["p50_ms"] else float("nan")
    ratio99 = bot["p99_ms"] / rasa["p99_ms"] if rasa["p99_ms"] else float("nan")
    results["ratio_bot_rasa"] = {"p50": round(ratio50, 2), "p99": round(ratio99, 2)}
    conditions = args.users == TARGET_USERS and info["nproc"] == TARGET_CORES
    results["goals"] = {
        "p50_ratio_at_most_2x": {"value": round(ratio50, 2), "pass": ratio50 <= TARGET_P50_RATIO},
        "p99_under_300ms": {"value_ms": bot["p99_ms"], "pass": bot["p99_ms"] < TARGET_P99_MS,
                            "conditions_match": conditions},
    }

    header = f"{'target':<7}{'turns':>7}{'errors':>8}{'turns/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print("\n" + header)
    for name in TARGETS:
        s = results["targets"][name]
        print(f"{name:<7}{s['turns']:>7}{s['errors']:>8}{s['turns_per_s']!s:>9}{s['p50_ms']:>9.1f}"
              f"{s['p95_ms']:>9.1f}{s['p99_ms']:>9.1f}{s['max_ms']!s:>9}")
    print(f"ratio bot/rasa: p50 {ratio50:.2f}x   p99 {ratio99:.2f}x")

    print("\np50 / p99 ms by turn kind (say = typed utterance, all = tap 全部, answer = tap a question's first choice)")
    for name in TARGETS:
        parts = [f"{k} {v['p50_ms']:.1f} / {v['p99_ms']:.1f} (n={v['turns']})" for k, v in results["by_kind"][name].items()]
        print(f"  {name:<5} " + "   ".join(parts))
    print("\nCPU ms per turn by process (during the measured phases)")
    for name in TARGETS:
        cpu = results["cpu_ms_per_turn"][name]
        parts = [f"{k} {v}" for k, v in cpu.items() if k != "machine_busy_pct"]
        print(f"  {name:<5} " + "  ".join(parts) + f"   | machine busy {cpu['machine_busy_pct']}% of {info['nproc']} cpus")
    print("  (other = CPU spent by processes outside this benchmark: noise from whatever else runs on the machine)")
    print("\nconversation outcomes: " + "   ".join(
        f"{n}: " + ", ".join(f"{k} {v}" for k, v in sorted(results['outcomes'][n].items())) for n in TARGETS))
    same = results["same_conversations"]
    print(f"same conversations on both targets: {same['identical']}/{same['pairs']} identical message sequences")

    g = results["goals"]
    print("\ntargets (reported, not asserted)")
    print(f"  guided turn p50 at most {TARGET_P50_RATIO:.0f}x bare Rasa: {ratio50:.2f}x  -> "
          f"{'PASS' if g['p50_ratio_at_most_2x']['pass'] else 'MISS'}")
    note = "" if conditions else (
        f"  (target is for {TARGET_USERS} users on {TARGET_CORES} cores; this run: {args.users} users, {info['nproc']} cpus)")
    print(f"  bot p99 under {TARGET_P99_MS:.0f} ms: {bot['p99_ms']:.1f} ms  -> "
          f"{'PASS' if g['p99_under_300ms']['pass'] else 'MISS'}{note}")
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated users (default 20)")
    parser.add_argument("--conversations", type=int, default=3, help="conversations per user per phase (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (bot, rasa) phases (default 2)")
    parser.add_argument("--max-turns", type=int, default=12, help="turns per conversation at most (default 12)")
    parser.add_argument("--max-total-turns", type=int, default=20_000, help="turns in all phases at most")
    parser.add_argument("--max-seconds", type=float, default=900, help="measured phases stop after this (default 900)")
    parser.add_argument("--think-ms", type=float, default=0,
                        help="pause of each user between receiving a reply and sending the next turn (default 0: "
                             "back to back, a saturation test)")
    parser.add_argument("--timeout", type=float, default=30, help="per-request timeout in seconds (default 30)")
    parser.add_argument("--startup-timeout", type=float, default=300, help="seconds to wait for the Stack")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--model", help="a trained model (default: the one for the current inputs)")
    parser.add_argument("--json", metavar="FILE", help="write the results (and the raw latencies) as JSON")
    args = parser.parse_args(argv)
    if args.users < 1 or args.conversations < 1 or args.rounds < 1 or args.max_turns < 3 or args.think_ms < 0:
        parser.error("--users, --conversations and --rounds must be >= 1, --max-turns >= 3, --think-ms >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    command = command_line()
    info = machine()
    started = dt.datetime.now(dt.UTC).astimezone()
    print(f"command: {command}")
    print(f"machine: {machine_line(info)}")
    print(f"date:    {started.isoformat(timespec='seconds')}")
    print(f"load:    {args.users} users x {args.conversations} conversations x {args.rounds} rounds per target, "
          f"max {args.max_turns} turns per conversation, think time {args.think_ms:g} ms, timeout {args.timeout:g}s")

    model = find_model(args.model)
    ensure_redis(args.redis_url)
    if not redis_answers(args.redis_url):
        raise SystemExit(f"Redis at {args.redis_url} does not answer")
    redis_client = redis.Redis.from_url(args.redis_url)
    run_id = secrets.token_hex(3)
    key_prefix = "bench" + secrets.token_hex(4)
    # Benchmark trackers need not live for the default 30 days; the keys are deleted at the end anyway.
    os.environ.setdefault("TRACKER_RECORD_EXPIRY_SECONDS", "3600")
    bot_port, rasa_port, action_port = free_ports(3)
    stack = Stack(
        model=model, bot_port=bot_port, rasa_port=rasa_port, action_port=action_port,
        redis_url=args.redis_url, key_prefix=key_prefix,
        log_dir=Path(tempfile.mkdtemp(prefix="bench-logs-")),
        env={"DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='bench-db-')}/bench.db"},
    )

    def _terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _terminate)
    print(f"model:   {model.name}\nstack:   bot {stack.bot_url}, rasa {stack.rasa_url}, actions :{action_port}, "
          f"redis {args.redis_url} prefix {key_prefix}, logs {stack.log_dir}")
    try:
        t0 = time.monotonic()
        print("starting the stack ...", flush=True)
        stack.start(timeout=args.startup_timeout)
        print(f"stack ready after {time.monotonic() - t0:.0f}s", flush=True)
        phases = asyncio.run(measure(stack, args, run_id, redis_client))
        if not phases:
            print("no phase ran", file=sys.stderr)
            return 1
        results = report(phases, args, info)
        if args.json:
            doc = {
                "command": command, "date": started.isoformat(timespec="seconds"), "machine": info,
                "args": vars(args), "model": model.name, **results,
                "raw_ms": {name: [round(t.ms, 2) for p in phases if p.target == name for t in p.turns if t.ok]
                           for name in TARGETS},
            }
            Path(args.json).write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
            print(f"\nwrote {args.json}")
        return 0
    except LaunchError as exc:
        print(f"could not start the stack: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        print("stopping the stack ...", flush=True)
        stack.stop()
        removed = delete_keys(redis_client, key_prefix)
        print(f"stopped; removed {removed} Redis keys under {key_prefix}:*", flush=True)
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
