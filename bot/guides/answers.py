"""Understand typed answers: a choice of a question, or which sub-items the user wants.

Buttons send exact values; this handles the same answer typed by hand (“结了”, “1 和 3”,
“只办户口和社保卡”), forgiving typos with rapidfuzz.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from bot.guides.matcher import normalize
from bot.guides.schema import Choice, Guide, Question

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ORDINAL = re.compile(r"第([一二两三四五六七八九十\d]+)")
_ONLY_NUMBERS = re.compile(r"^[\d一二两三四五六七八九十和跟与及还有、,，\s第个项条号]+$")
_ALL_WORDS = ("全部", "都办", "全办", "都要", "所有", "全都", "一起办", "都得办", "全选", "全要", "都弄")
_DONE_WORDS = ("选好了", "好了", "就这些", "就这几个", "完成", "确定")


def match_choice(question: Question, text: str) -> Choice | None:
    """The choice a typed answer means, or None. Longest phrase wins (“不是” beats “是”)."""
    norm = normalize(text)
    if not norm:
        return None
    for choice in question.choices:  # exact first
        if norm in {normalize(choice.title), choice.value, *(normalize(s) for s in choice.synonyms)}:
            return choice
    numbers = _numbers(text)
    if len(numbers) == 1 and _ONLY_NUMBERS.match(text.strip()) and 1 <= numbers[0] <= len(question.choices):
        return question.choices[numbers[0] - 1]
    best: tuple[int, Choice] | None = None
    for choice in question.choices:
        for phrase in (choice.title, *choice.synonyms):
            p = normalize(phrase)
            if not p or p not in norm or _negated(norm, p):
                continue
            if best is None or len(p) > best[0]:
                best = (len(p), choice)
    if best:
        return best[1]
    scored = [
        (fuzz.ratio(normalize(c.title), norm), c) for c in question.choices
    ]
    score, choice = max(scored, key=lambda sc: sc[0])
    return choice if score >= 80 else None


_NEGATIONS = "不没未非无"


def _negated(text: str, phrase: str) -> bool:
    """“不是本县的” must not count as “本县”: a negation right before the phrase flips it."""
    if phrase[0] in _NEGATIONS:
        return False
    start = text.find(phrase)
    while start != -1:
        if not any(ch in _NEGATIONS for ch in text[max(0, start - 2):start]):
            return False
        start = text.find(phrase, start + 1)
    return True


def _numbers(text: str) -> list[int]:
    found: list[int] = []
    for token in re.findall(r"\d+", text):
        found.append(int(token))
    if _ONLY_NUMBERS.match(text.strip()) or _ORDINAL.search(text):
        for ch in re.sub(r"\d+", "", text):
            if ch in _CN_DIGITS and ch != "十":
                found.append(_CN_DIGITS[ch])
    return list(dict.fromkeys(found))


def wants_all(text: str) -> bool:
    norm = normalize(text)
    return any(word in norm for word in _ALL_WORDS)


def is_done(text: str) -> bool:
    norm = normalize(text)
    return any(norm == w or norm.startswith(w) for w in _DONE_WORDS)


def parse_items(guide: Guide, text: str) -> list[str]:
    """Item ids named in the text, by number (“1 3”) or by name (“户口和社保卡”), in guide order."""
    chosen: set[str] = set()
    if _ONLY_NUMBERS.match(text.strip()) or _ORDINAL.search(text) or re.search(r"\d", text):
        for n in _numbers(text):
            if 1 <= n <= len(guide.items):
                chosen.add(guide.items[n - 1].id)
    norm = normalize(text)
    for item in guide.items:
        names = {normalize(n) for n in (item.short_title or "", item.title, *item.aliases)} - {""}
        for name in names:
            core = name[:6]
            if name in norm or (len(core) >= 3 and core in norm) or (
                len(name) >= 3 and fuzz.partial_ratio(name, norm) >= 88 and len(norm) >= 3
            ):
                chosen.add(item.id)
                break
    return [i.id for i in guide.items if i.id in chosen]
