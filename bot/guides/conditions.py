"""Evaluate declarative conditions against a user's answers, in three-valued logic.

An unanswered question makes a comparison *unknown* (None) rather than false, so the flow can tell
"this material does not apply" from "we still have to ask".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bot.guides.schema import AllOf, AnswerIs, AnyOf, Condition, NotOf


def evaluate(condition: Condition | None, answers: Mapping[str, str]) -> bool | None:
    """True, False, or None when the answers given so far do not decide it."""
    if condition is None:
        return True
    if isinstance(condition, AnswerIs):
        if condition.question not in answers:
            return None
        return answers[condition.question] in condition.values()
    if isinstance(condition, AllOf):
        results = [evaluate(c, answers) for c in condition.all]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if isinstance(condition, AnyOf):
        results = [evaluate(c, answers) for c in condition.any]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if isinstance(condition, NotOf):
        inner = evaluate(condition.not_, answers)
        return None if inner is None else not inner
    raise TypeError(f"unknown condition {condition!r}")


def comparisons(condition: Condition | None) -> Iterator[AnswerIs]:
    """Every leaf comparison of a condition tree."""
    if condition is None:
        return
    if isinstance(condition, AnswerIs):
        yield condition
    elif isinstance(condition, AllOf):
        for c in condition.all:
            yield from comparisons(c)
    elif isinstance(condition, AnyOf):
        for c in condition.any:
            yield from comparisons(c)
    elif isinstance(condition, NotOf):
        yield from comparisons(condition.not_)


def questions_in(condition: Condition | None) -> list[str]:
    seen: dict[str, None] = {}
    for leaf in comparisons(condition):
        seen.setdefault(leaf.question, None)
    return list(seen)
