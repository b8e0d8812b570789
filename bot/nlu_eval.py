"""Evaluate the NLU on the held-out utterances (dialogues/tests/nlu_heldout.yml).

Intent accuracy comes from the trained Rasa model (its /model/parse API); guide identification
from the run-time matcher the dialogue uses. Prints both, the per-intent counts and every miss.
"""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path

import httpx
import yaml

from bot.config import ROOT
from bot.guides.catalog import build_catalog
from bot.training import ensure_model


def _parse_all(rasa_url: str, texts: list[str]) -> list[tuple[str, float]]:
    token = os.environ.get("RASA_TOKEN", "")
    results = []
    with httpx.Client(timeout=30) as client:
        for text in texts:
            data = client.post(f"{rasa_url}/model/parse", params={"token": token} if token else None,
                               json={"text": text}).json()
            results.append((data["intent"]["name"], float(data["intent"].get("confidence") or 0)))
    return results


def main(heldout: Path, rasa_url: str | None, guides_only: bool = False) -> int:
    examples = yaml.safe_load(heldout.read_text(encoding="utf-8"))["examples"]
    texts = [e["text"] for e in examples]
    stack = None
    if guides_only:
        return _report(heldout, examples, [(e["intent"], 1.0) for e in examples])
    if rasa_url is None:
        from bot.launcher import LaunchError, Stack, free_port

        stack = Stack(model=ensure_model(ROOT / "guides"), rasa_port=free_port(), enable_rasa_api=True,
                      log_dir=Path(tempfile.mkdtemp(prefix="nlu-eval-")))
        try:
            stack.start(only_rasa=True)
        except LaunchError as exc:
            print("Rasa did not start for the evaluation:", exc)
            return 2
        rasa_url = stack.rasa_url
    try:
        predictions = _parse_all(rasa_url, texts)
    finally:
        if stack:
            stack.stop()
    return _report(heldout, examples, predictions)


def _report(heldout: Path, examples: list[dict], predictions: list[tuple[str, float]]) -> int:
    catalog = build_catalog(ROOT / "guides")
    per_intent: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    intent_ok = guide_ok = guide_total = top3_ok = 0
    misses: list[str] = []
    for example, (intent, confidence) in zip(examples, predictions, strict=True):
        expected = example["intent"]
        per_intent[expected][1] += 1
        if intent == expected:
            intent_ok += 1
            per_intent[expected][0] += 1
        else:
            misses.append(f"  意图  {example['text']!r}: 期望 {expected}，得到 {intent} ({confidence:.2f})")
        if example.get("guide"):
            guide_total += 1
            found = catalog.matcher.identify(example["text"])
            if found.outcome == "found" and found.best and found.best.guide_id == example["guide"]:
                guide_ok += 1
            else:
                got = ",".join(c.guide_id for c in found.candidates) or "无"
                misses.append(f"  事项  {example['text']!r}: 期望 {example['guide']}，得到 {found.outcome}:{got}")
            if any(c.guide_id == example["guide"] for c in found.candidates):
                top3_ok += 1
    n = len(examples)
    print(f"held-out utterances: {n} ({heldout})")
    print(f"intent accuracy: {intent_ok / n:.1%} ({intent_ok}/{n})")
    if guide_total:  # an intent-only set names no guide
        print(f"guide identification accuracy: {guide_ok / guide_total:.1%} ({guide_ok}/{guide_total})")
        print(f"guide among the offered choices (top 3): {top3_ok / guide_total:.1%} ({top3_ok}/{guide_total})")
    for name, (ok, total) in sorted(per_intent.items()):
        print(f"  {name:14s} {ok}/{total}")
    if misses:
        print("misses:")
        print("\n".join(misses))
    return 0
