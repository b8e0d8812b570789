"""Guide matcher speed: the current bot/guides/matcher.py against the one of an earlier commit.

The matcher runs on every typed chat turn (GuideMatcher.identify). Both versions rank the same
utterances (every set in dialogues/tests that names guides), in alternating rounds in one process,
so the ratio holds on a noisy machine.

    .venv/bin/python bench/matcher_speed.py --against 2a5c7c4 [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.guides.catalog import build_catalog  # noqa: E402


def load_matcher(revision: str) -> ModuleType:
    source = subprocess.run(["git", "show", f"{revision}:bot/guides/matcher.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "matcher_then.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("matcher_then", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["matcher_then"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def utterances() -> list[str]:
    texts = []
    for path in sorted((ROOT / "dialogues" / "tests").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            texts += [e["text"] for e in data.get("examples", []) if e.get("guide")]
    return texts


def per_call_us(identify, texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        start = time.perf_counter()
        identify(text)
        times.append((time.perf_counter() - start) * 1e6)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the git revision whose matcher.py to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    catalog = build_catalog(ROOT / "guides")
    now = catalog.matcher
    then = load_matcher(args.against).GuideMatcher(catalog.guides.values())
    texts = utterances()
    results: dict[str, list[float]] = {"now": [], "then": []}
    for _ in range(args.rounds):
        results["then"] += per_call_us(then.identify, texts)
        results["now"] += per_call_us(now.identify, texts)
    print(f"command: .venv/bin/python bench/matcher_speed.py --against {args.against} --rounds {args.rounds}")
    print(f"utterances: {len(texts)} x {args.rounds} rounds, {len(catalog.guides)} guides")
    for name, times in results.items():
        q = statistics.quantiles(times, n=100)
        print(f"{name:5s} p50 {q[49]:8.1f} us   p99 {q[98]:8.1f} us   mean {statistics.fmean(times):8.1f} us")
    ratio = statistics.median(results["now"]) / statistics.median(results["then"])
    print(f"ratio now/then p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()
