"""The guides as the running backend sees them, re-read when the files or the published versions change.

Two sources: the files in guides/ (the source of a fresh install, edited by programmers) and the
versions staff published in the browser editor (bot.guides.versions, in the database), which win
over their files. bot.guides.reloading re-reads both when either moves (at most once a second,
on the next request), so a publish is served by every replica within seconds, without a restart or
retraining. A document with errors is left out (and logged); the others keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.guides.lint import lint_loaded
from bot.guides.loader import LICENCES_FILE, LoadedGuides, Problem, load_directory
from bot.guides.matcher import GuideMatcher
from bot.guides.reloading import PublishedSource, ReloadingStore, files_fingerprint
from bot.guides.schema import Guide, Licence
from bot.guides.wording import Wording, load_wording, parse_wording

log = logging.getLogger(__name__)

REPLIES_FILE = Path("templates") / "replies.yml"


@dataclass(frozen=True)
class Catalog:
    guides: dict[str, Guide]
    licences: dict[str, Licence]
    matcher: GuideMatcher
    wording: Wording
    version: str
    problems: tuple[Problem, ...]
    # What it was built from, for the editor's checks (lint of a draft against the other guides).
    loaded: LoadedGuides | None = None
    published: Mapping[str, str] = field(default_factory=dict)  # file name (under guides/) -> published text
    marker: int | None = None  # the newest publication this snapshot includes

    def guide(self, guide_id: str | None) -> Guide | None:
        return self.guides.get(guide_id) if guide_id else None

    def featured(self) -> list[Guide]:
        chosen = [self.guides[g] for g in self.wording.featured if g in self.guides]
        return chosen or list(self.guides.values())[:4]


def _fingerprint(directory: Path) -> str:
    return files_fingerprint([*directory.glob("*.yml"), directory / REPLIES_FILE])


def build_catalog(directory: Path, published: Mapping[str, str] | None = None, marker: int | None = None) -> Catalog:
    published = dict(published or {})
    replies = published.get(str(REPLIES_FILE))
    overrides = {name: text.encode("utf-8") for name, text in published.items() if "/" not in name}
    loaded = load_directory(directory, overrides)
    problems = lint_loaded(loaded)
    broken = {p.file for p in problems if p.severity == "错误" and p.blocks_loading}
    guides = {gid: g for gid, g in loaded.guides.items() if f"guides/{loaded.parsed[gid].path.name}" not in broken}
    for problem in problems:
        log.warning("guide problem: %s", problem)
    licences = {lic.code: lic for lic in loaded.licences.licences} if loaded.licences else {}
    if f"guides/{LICENCES_FILE}" in broken:
        log.error("licences.yml has errors; materials are shown without 免 until it is fixed")
    return Catalog(
        guides=guides,
        licences=licences,
        matcher=GuideMatcher(guides.values()),
        wording=_wording(directory, replies),
        version=_fingerprint(directory)[:12] + (f".{marker}" if marker else ""),
        problems=tuple(problems),
        loaded=loaded,
        published=published,
        marker=marker,
    )


def _wording(directory: Path, published: str | None) -> Wording:
    if published is not None:
        try:
            return parse_wording(published)
        except Exception:  # checked before publishing; should it fail anyway, the file still works
            log.exception("published reply wording does not load; using the file's")
    return load_wording(directory / REPLIES_FILE)


class CatalogStore(ReloadingStore[Catalog]):
    """The current Catalog of ``directory`` and the published versions, re-read when either moves."""

    what = "guides"

    def __init__(self, directory: Path, check_interval: float = 1.0, source: PublishedSource | None = None) -> None:
        self.directory = directory
        super().__init__(check_interval, source)

    def fingerprint(self) -> str:
        return _fingerprint(self.directory)

    def build(self, published: Mapping[str, str], marker: int | None, previous: Catalog | None) -> Catalog:
        return build_catalog(self.directory, published, marker)
