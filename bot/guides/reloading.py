"""A snapshot of content read from guides/ and from the versions published in the browser editor,
rebuilt when either moves: the one reload loop behind the guides' and the policies' stores.

Every process checks at most once per ``check_interval`` seconds, on the next access: the files'
fingerprint (names, sizes, mtimes: cheap) and the database's publication marker (the id of the
newest published version, one indexed query). When either moved, a fresh snapshot is built and
swapped in, so a publish is served by every replica within seconds, without a restart. A rebuild
that fails keeps the last good snapshot: a bad edit must not take the service down.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class PublishedSource(Protocol):
    """Where published versions come from (bot.guides.versions.DatabaseSource)."""

    def marker(self) -> int | None:
        """Cheap: changes whenever anything is published or restored; None when nothing ever was."""

    def documents(self) -> tuple[int | None, dict[str, str]]:
        """The marker and the newest published text of every document, by file name under guides/."""


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


SnapshotT = TypeVar("SnapshotT", bound=Versioned)


def files_fingerprint(paths: Iterable[Path]) -> str:
    """Names, sizes and modification times: what changes when a file is saved, read without opening it."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


class ReloadingStore(Generic[SnapshotT]):
    """Thread-safe holder of the current snapshot, refreshed lazily on access.

    Subclasses say what the snapshot is made of (``fingerprint``) and how it is built (``build``).
    """

    what = "content"  # for the logs

    def __init__(self, check_interval: float = 1.0, source: PublishedSource | None = None) -> None:
        self.check_interval = check_interval
        self.source = source
        self._lock = threading.Lock()
        self._fingerprint = self.fingerprint()
        self._marker: int | None = None
        self._snapshot = self._build(None)
        self._checked = time.monotonic()

    def fingerprint(self) -> str:
        raise NotImplementedError

    def build(self, published: Mapping[str, str], marker: int | None, previous: SnapshotT | None) -> SnapshotT:
        """A snapshot of the files with ``published`` over them; ``previous`` is the one served so far
        (None at the first build), for a store that falls back on it."""
        raise NotImplementedError

    def get(self) -> SnapshotT:
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return self._snapshot
        with self._lock:
            if now - self._checked >= self.check_interval:
                self._checked = now
                self._reload_if_changed()
        return self._snapshot

    def refresh(self) -> SnapshotT:
        """Check at once (the process that published need not wait for its next check)."""
        with self._lock:
            self._checked = time.monotonic()
            self._reload_if_changed()
        return self._snapshot

    def _build(self, previous: SnapshotT | None) -> SnapshotT:
        marker, published = self._published()
        snapshot = self.build(published, marker, previous)
        self._marker = marker
        return snapshot

    def _published(self) -> tuple[int | None, dict[str, str]]:
        if self.source is None:
            return None, {}
        try:
            return self.source.documents()
        except Exception:  # no database yet (before the migration) or a hiccup: the files alone
            log.warning("published %s versions unavailable; serving the files", self.what, exc_info=True)
            return None, {}

    def _current_marker(self) -> int | None:
        if self.source is None:
            return None
        try:
            return self.source.marker()
        except Exception:  # keep what is loaded rather than drop the published versions
            log.warning("publication marker unavailable; keeping %s %s", self.what, self._snapshot.version,
                        exc_info=True)
            return self._marker

    def _reload_if_changed(self) -> None:
        fingerprint = self.fingerprint()
        marker = self._current_marker()
        if fingerprint == self._fingerprint and marker == self._marker:
            return
        try:
            self._snapshot = self._build(self._snapshot)
            self._fingerprint = fingerprint
            log.info("%s reloaded: version %s", self.what, self._snapshot.version)
        except Exception:  # keep serving the last good snapshot
            log.exception("reloading %s failed; keeping version %s", self.what, self._snapshot.version)
