"""The guides as the running backend sees them, re-read when the files change.

Every process checks the directory's fingerprint (names, sizes, mtimes) at most once a second and
swaps in a fresh snapshot, so an edit is served within seconds by every replica without a
restart. A file with errors is left out (and logged); the others keep working.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.guides.lint import lint_loaded
from bot.guides.loader import LICENCES_FILE, Problem, load_directory
from bot.guides.matcher import GuideMatcher
from bot.guides.schema import Guide, Licence
from bot.guides.wording import Wording, load_wording

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


def build_catalog(directory: Path) -> Catalog:
    loaded = load_directory(directory)
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
        wording=load_wording(directory / REPLIES_FILE),
        version=_fingerprint(directory)[:12],
        problems=tuple(problems),
    )


class CatalogStore:
    """Thread-safe holder of the current Catalog, refreshed lazily on access."""

    def __init__(self, directory: Path, check_interval: float = 1.0) -> None:
        self.directory = directory
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._fingerprint = _fingerprint(directory)
        self._catalog = build_catalog(directory)
        self._checked = time.monotonic()

    def get(self) -> Catalog:
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return self._catalog
        with self._lock:
            if now - self._checked >= self.check_interval:
                self._checked = now
                fingerprint = _fingerprint(self.directory)
                if fingerprint != self._fingerprint:
                    try:
                        self._catalog = build_catalog(self.directory)
                        self._fingerprint = fingerprint
                        log.info("guides reloaded: version %s", self._catalog.version)
                    except Exception:  # keep serving the last good snapshot
                        log.exception("reloading guides failed; keeping version %s", self._catalog.version)
        return self._catalog
