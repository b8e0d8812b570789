"""The guides as the running backend sees them, re-read when the files or the published versions change.

Two sources: the files in guides/ (the source of a fresh install, edited by programmers) and the
versions staff published in the browser editor (bot.guides.versions, in the database), which win
over their files. Every process checks both at most once a second, on the next request: the
files' fingerprint (names, sizes, mtimes) and the database's publication marker (the id of the
newest published version, one indexed query). When either moved, a fresh snapshot is built and
swapped in, so a publish is served by every replica within seconds, without a restart or
retraining. A document with errors is left out (and logged); the others keep working.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.guides.lint import lint_loaded
from bot.guides.loader import LICENCES_FILE, LoadedGuides, Problem, load_directory
from bot.guides.matcher import GuideMatcher
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
    digest = hashlib.sha256()
    for path in sorted([*directory.glob("*.yml"), directory / REPLIES_FILE]):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


class PublishedSource(Protocol):
    """Where published versions come from (bot.guides.versions.DatabaseSource)."""

    def marker(self) -> int | None:
        """Cheap: changes whenever anything is published or restored; None when nothing ever was."""

    def documents(self) -> tuple[int | None, dict[str, str]]:
        """The marker and the newest published text of every document, by file name under guides/."""


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


class CatalogStore:
    """Thread-safe holder of the current Catalog, refreshed lazily on access."""

    def __init__(self, directory: Path, check_interval: float = 1.0, source: PublishedSource | None = None) -> None:
        self.directory = directory
        self.check_interval = check_interval
        self.source = source
        self._lock = threading.Lock()
        self._fingerprint = _fingerprint(directory)
        self._marker: int | None = None
        self._catalog = self._build()
        self._checked = time.monotonic()

    def _build(self) -> Catalog:
        marker, published = self._published()
        catalog = build_catalog(self.directory, published, marker)
        self._marker = marker
        return catalog

    def _published(self) -> tuple[int | None, dict[str, str]]:
        if self.source is None:
            return None, {}
        try:
            return self.source.documents()
        except Exception:  # no database yet (before the migration) or a hiccup: the files alone
            log.warning("published guide versions unavailable; serving the files", exc_info=True)
            return None, {}

    def _current_marker(self) -> int | None:
        if self.source is None:
            return None
        try:
            return self.source.marker()
        except Exception:
            log.warning("guide publication marker unavailable; keeping version %s", self._catalog.version, exc_info=True)
            return self._marker

    def get(self) -> Catalog:
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return self._catalog
        with self._lock:
            if now - self._checked >= self.check_interval:
                self._checked = now
                self._reload_if_changed()
        return self._catalog

    def refresh(self) -> Catalog:
        """Check at once (the process that published need not wait for its next check)."""
        with self._lock:
            self._checked = time.monotonic()
            self._reload_if_changed()
        return self._catalog

    def _reload_if_changed(self) -> None:
        fingerprint = _fingerprint(self.directory)
        marker = self._current_marker()
        if fingerprint == self._fingerprint and marker == self._marker:
            return
        try:
            self._catalog = self._build()
            self._fingerprint = fingerprint
            log.info("guides reloaded: version %s", self._catalog.version)
        except Exception:  # keep serving the last good snapshot
            log.exception("reloading guides failed; keeping version %s", self._catalog.version)
