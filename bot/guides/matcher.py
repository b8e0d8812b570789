"""Find the 一件事 a citizen means, at run time, from the guides' titles, aliases and keywords.

This is deliberately not part of the trained model: a guide added to guides/ today must be found
before the next training. Exact phrase hits dominate; rapidfuzz's partial ratio forgives the
typos and homophones people type on a phone (出声证明, 退体).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from bot.guides.schema import Guide

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SUFFIX = "一件事"


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, punctuation and spaces removed."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


# Initials and finals that pinyin IMEs and Henan speech blur (模糊音): 社保 typed as 舍保.
_BLURRED = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"))


def _blur(syllable: str) -> str:
    for sharp, blurred in _BLURRED:
        syllable = syllable.replace(sharp, blurred)
    return syllable


def sound(text: str) -> str:
    """The normalized text as blurred toneless pinyin, one syllable per character, space-framed.

    Most typos typed on a phone are homophones picked from the IME's list (公祖房, 注消, 年抱):
    in sound they are the phrase itself. Framing with spaces keeps syllables whole in `in` tests.
    """
    syllables = lazy_pinyin(text, errors=lambda chars: list(chars))
    return " " + " ".join(_blur(s) for s in syllables) + " "


@dataclass(frozen=True)
class Phrase:
    text: str
    weight: float
    fuzzy: bool
    sound: str


@dataclass(frozen=True)
class Match:
    guide_id: str
    score: float
    evidence: tuple[str, ...]
    exact: bool = False  # some evidence is in the text as written or as a homophone, not only nearly


@dataclass(frozen=True)
class Identification:
    outcome: Literal["found", "ambiguous", "none"]
    candidates: tuple[Match, ...] = field(default_factory=tuple)

    @property
    def best(self) -> Match | None:
        return self.candidates[0] if self.candidates else None


# Tuned on the training utterances, not on the held-out set (see README: NLU evaluation).
FOUND_MIN = 6.0
FOUND_MARGIN = 0.65  # the runner-up must score below this share of the best
AMBIGUOUS_MIN = 3.0
FUZZY_MIN_RATIO = 74.0  # one wrong character in four (75) is still the phrase
CONTAINED_SCORE = 3.0
LONE_MIN = 3.0  # the only guide the words point to at all
HOMOPHONE_SHARE = 0.85  # a phrase that only sounds right is nearly, not quite, the phrase


def _typo_ratio(phrase: str, text: str) -> float:
    """How well the whole phrase, give or take a typo, stands somewhere inside the text.

    Alignments that use only part of the phrase (a shared word at the edge of the sentence) do
    not count: “营业执照上的法人” must not look like “注销营业执照”.
    """
    alignment = fuzz.partial_ratio_alignment(phrase, text, score_cutoff=FUZZY_MIN_RATIO)
    if alignment is None or alignment.src_end - alignment.src_start < len(phrase):
        return 0.0
    if alignment.dest_end - alignment.dest_start < len(phrase) - 1:
        return 0.0
    if len(phrase) <= 4 and not _one_substitution(phrase, text):
        return 0.0
    return alignment.score


def _one_substitution(phrase: str, text: str) -> bool:
    """A short phrase typed with one character wrong (退体手续), or without its leading verb or last
    character (餐饮店 for 开餐饮店); not one with a character dropped from its middle, which
    leaves other words (公司名下 is not 公司改名, 企业的注册 not 企业注销).
    """
    n = len(phrase)
    if phrase[1:] in text or phrase[:-1] in text:
        return True
    return any(
        sum(a == b for a, b in zip(text[i : i + n], phrase, strict=True)) >= n - 1
        for i in range(len(text) - n + 1)
    )


def _sounds_alike(phrase: str, phrase_sound: str, text: str, text_sound: str) -> bool:
    """Given that the text sounds like the phrase somewhere (the caller's cheap test, on the hot path):
    do words there keep at least half the phrase's characters?

    A homophone typo picks one wrong character from the IME's list (社宝卡, 注消, 年抱); words that
    only sound alike and share no character are other words (公司名下 is not 失明, 案子 not 安置).
    """
    heard, wanted = text_sound.split(), phrase_sound.split()
    if len(heard) != len(text):  # a character pypinyin did not read as one syllable: keep the plain test
        return True
    n, keep = len(wanted), max(1, len(phrase) // 2)
    return any(
        heard[i : i + n] == wanted and sum(a == b for a, b in zip(text[i : i + n], phrase, strict=True)) >= keep
        for i in range(len(heard) - n + 1)
    )


def _one_typo_in_three(phrase: str, text: str) -> bool:
    """“公租方” for “公租房”: a three-character phrase with one homophone typo, the first kept.

    Too weak to pick a guide over a real hit elsewhere (it scores half), but enough to find the
    guide when nothing else does, which beats a dead end.
    """
    for i in range(len(text) - 2):
        window = text[i : i + 3]
        if window[0] == phrase[0] and sum(a == b for a, b in zip(window, phrase, strict=True)) == 2:
            return True
    return False


def _phrase_score(phrase: str) -> float:
    return 4.0 + 1.5 * min(len(phrase), 8)


class GuideMatcher:
    def __init__(self, guides: Iterable[Guide]) -> None:
        self._phrases: dict[str, list[Phrase]] = {}
        self._keywords: dict[str, list[str]] = {}
        self._items: dict[str, list[str]] = {}
        self._item_names: dict[str, list[str]] = {}  # every name of every sub-item, short ones too
        for guide in guides:
            core = guide.title.removesuffix(_SUFFIX)
            names = dict.fromkeys(normalize(p) for p in [guide.title, core, *guide.aliases])
            self._phrases[guide.id] = [
                Phrase(n, _phrase_score(n), fuzzy=len(n) >= 4, sound=sound(n)) for n in names if len(n) >= 2
            ]
            keywords = [k for k in dict.fromkeys(normalize(k) for k in guide.keywords) if k]
            self._keywords[guide.id] = [(k, sound(k)) for k in keywords]
            self._items[guide.id] = [
                n for n in dict.fromkeys(normalize(i.short_title or i.title) for i in guide.items) if len(n) >= 3
            ]
            self._item_names[guide.id] = [
                n for n in dict.fromkeys(
                    normalize(name) for i in guide.items for name in (i.title, i.short_title or "", *i.aliases)
                ) if len(n) >= 2
            ]

    def score(self, guide_id: str, text: str, text_sound: str | None = None) -> Match:
        text_sound = text_sound if text_sound is not None else sound(text)
        best = 0.0
        evidence: list[str] = []
        exact = False
        for phrase in self._phrases[guide_id]:
            if phrase.text in text:
                value = phrase.weight
                exact = True
            elif phrase.sound in text_sound and _sounds_alike(phrase.text, phrase.sound, text, text_sound):
                value = phrase.weight * HOMOPHONE_SHARE
                exact = True
            elif len(text) >= 2 and text in phrase.text:
                # A short text inside a long alias (“公积金”) only hints: enough to be offered
                # as a choice, never enough to be picked alone over a real hit elsewhere.
                value = CONTAINED_SCORE
            elif phrase.fuzzy and len(text) >= len(phrase.text):
                value = phrase.weight * 0.7 * _typo_ratio(phrase.text, text) / 100
            elif len(phrase.text) == 3 and _one_typo_in_three(phrase.text, text):
                value = phrase.weight * 0.5
            else:
                value = 0.0
            if value > best:
                best, evidence = value, [phrase.text]
        hits = [
            k for k, k_sound in self._keywords[guide_id]
            if k in text or (len(k) >= 2 and k_sound in text_sound and _sounds_alike(k, k_sound, text, text_sound))
        ]
        exact = exact or bool(hits)
        keyword_score = sum(3.0 if len(k) >= 2 else 1.5 for k in hits[:4])
        item_hits = [i for i in self._items[guide_id] if i in text]
        item_score = 3.0 * min(len(item_hits), 2)
        if not item_hits and len(text) >= 2 and any(text in i for i in self._items[guide_id]):
            item_score = CONTAINED_SCORE
        total = best + keyword_score + item_score
        return Match(guide_id, round(total, 2), tuple(evidence + hits + item_hits), exact or bool(item_hits))

    def rank(self, text: str) -> list[Match]:
        norm = normalize(text)
        if not norm:
            return []
        # “一件事” says nothing about which one, and sounds like words that do (监事): not listened to.
        norm_sound = sound(norm.replace(_SUFFIX, "#" * len(_SUFFIX)))
        matches = [self.score(gid, norm, norm_sound) for gid in self._phrases]
        if any(m.exact for m in matches):
            # Words as written (or a homophone of them) outweigh a phrase that is only nearly
            # there: 企业注册登记 is not a typo of 企业注销登记 when 破产 stands in the text too.
            matches = [m for m in matches if m.exact]
        ranked = sorted((m for m in matches if m.score > 0), key=lambda m: (-m.score, m.guide_id))
        return self._without_subsumed(norm, ranked)

    def _without_subsumed(self, text: str, ranked: list[Match]) -> list[Match]:
        """Drop a guide whose every word in the text names a sub-item of another guide also named there.

        “退伍证拿到了，社保卡也要重新申领吗”: 社保卡 is a sub-item of 退役军人服务一件事, which the
        text names in its own right (退伍); it is not a request for 社保卡居民服务 on its own.
        """
        written = {m.guide_id: [e for e in m.evidence if e in text] for m in ranked}
        kept: list[Match] = []
        for other in ranked:
            words = written[other.guide_id]
            subsumed = bool(words) and any(
                bundle.guide_id != other.guide_id
                and self._named_apart(bundle.guide_id, written[bundle.guide_id], text)
                and all(self._names_item(bundle.guide_id, w, text) for w in words)
                for bundle in ranked
            )
            if not subsumed:
                kept.append(other)
        return kept or ranked  # two guides that each explain the other away: leave both

    def _names_item(self, guide_id: str, word: str, text: str) -> bool:
        return any(word in name and name in text for name in self._item_names[guide_id])

    def _named_apart(self, guide_id: str, words: list[str], text: str) -> bool:
        """Some of the guide's own words in the text are not merely the name of one of its sub-items."""
        return any(not self._names_item(guide_id, w, text) for w in words)

    def identify(self, text: str, limit: int = 3) -> Identification:
        ranked = self.rank(text)
        if not ranked or ranked[0].score < AMBIGUOUS_MIN:
            return Identification("none", tuple(ranked[:limit]))
        top = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if (top.score >= FOUND_MIN and runner_up < FOUND_MARGIN * top.score) or (
            runner_up == 0 and top.score >= LONE_MIN
        ):
            # Clearly ahead, or the only guide the words point to at all.
            return Identification("found", (top,))
        close = [m for m in ranked if m.score >= 0.5 * top.score][:limit]
        if len(close) == 1:
            # Weak but alone: still worth a yes/no rather than a dead end.
            return Identification("ambiguous", (top,))
        return Identification("ambiguous", tuple(close))
