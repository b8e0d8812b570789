"""Drafts, published versions and restores of the documents staff edit in the browser.

A document is a (kind, doc_id): ``guide/newborn`` is guides/newborn.yml, ``replies/replies`` is
guides/templates/replies.yml, ``policy/<id>`` is guides/policies/<id>.yml. Its text is kept
exactly as it would stand in the file, so ``export`` writes back what was edited with nothing
lost, and the files stay the source of a fresh install (a document nobody published in the
browser is served from its file).

Publishing is one transaction: the new version row (number = the newest + 1, unique per
document, so two publishes at once cannot both win) and the removal of the draft. The first
publish of a document that came from a file first records the file's text as version 1, so
"restore" can always go back to what was installed. Restoring publishes a copy of an earlier
version as a new one: history only grows.

Every running process learns of a publish through ``DatabaseSource.marker`` (the newest version
id, one indexed query), polled at most once a second by ``CatalogStore``: the database is the one
thing every replica already shares and trusts, and a poll cannot miss a message the way a Redis
pub/sub subscriber can while it reconnects (Redis is optional here, too).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.store.content import KINDS, AuditEntry, ContentDraft, ContentRevision
from bot.store.models import utcnow

log = logging.getLogger(__name__)

FILE_AUTHOR = "guides/ 文件"  # the author shown for version 1 when it is the installed file
MAX_NOTE = 500


class VersionError(Exception):
    """A request on the version store that cannot be done; ``message`` is in Chinese."""

    status_code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Conflict(VersionError):
    status_code = 409


class NotFound(VersionError):
    status_code = 404


@dataclass(frozen=True)
class DocRef:
    kind: str
    doc_id: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NotFound(f"没有这类内容：{self.kind[:20]}")

    @property
    def file_name(self) -> str:
        """The path under guides/ of the document's file."""
        if self.kind == "guide":
            return f"{self.doc_id}.yml"
        if self.kind == "replies":
            return "templates/replies.yml"
        return f"policies/{self.doc_id}.yml"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.doc_id}"


REPLIES = DocRef("replies", "replies")


@dataclass(frozen=True)
class Editor:
    """Who is acting (the signed-in member of staff, or the CLI)."""

    username: str
    department: str | None = None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unified_diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"{name}（原）", f"{name}（新）", n=2,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# --- reading ----------------------------------------------------------------------------------------


def head(session: Session, ref: DocRef) -> ContentRevision | None:
    return session.scalar(
        select(ContentRevision)
        .where(ContentRevision.kind == ref.kind, ContentRevision.doc_id == ref.doc_id)
        .order_by(ContentRevision.number.desc())
        .limit(1)
    )


def revision(session: Session, ref: DocRef, number: int) -> ContentRevision | None:
    return session.scalar(
        select(ContentRevision).where(
            ContentRevision.kind == ref.kind, ContentRevision.doc_id == ref.doc_id, ContentRevision.number == number
        )
    )


def history(session: Session, ref: DocRef) -> list[ContentRevision]:
    return list(session.scalars(
        select(ContentRevision)
        .where(ContentRevision.kind == ref.kind, ContentRevision.doc_id == ref.doc_id)
        .order_by(ContentRevision.number.desc())
    ))


def draft_of(session: Session, ref: DocRef) -> ContentDraft | None:
    return session.scalar(select(ContentDraft).where(ContentDraft.kind == ref.kind, ContentDraft.doc_id == ref.doc_id))


def file_text(guides_dir: Path, ref: DocRef) -> str | None:
    path = guides_dir / ref.file_name
    try:
        return path.read_bytes().decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Published:
    """What citizens are served for one document now."""

    text: str | None  # None: the document does not exist (yet)
    number: int  # the version number; 0 when served from the file
    revision: ContentRevision | None


def published(session: Session, ref: DocRef, guides_dir: Path) -> Published:
    top = head(session, ref)
    if top is not None:
        return Published(top.content, top.number, top)
    return Published(file_text(guides_dir, ref), 0, None)


def newest_per_document(session: Session) -> list[ContentRevision]:
    newest = (
        select(ContentRevision.kind, ContentRevision.doc_id, func.max(ContentRevision.number).label("number"))
        .group_by(ContentRevision.kind, ContentRevision.doc_id)
        .subquery()
    )
    return list(session.scalars(
        select(ContentRevision).join(
            newest,
            (ContentRevision.kind == newest.c.kind)
            & (ContentRevision.doc_id == newest.c.doc_id)
            & (ContentRevision.number == newest.c.number),
        ).order_by(ContentRevision.kind, ContentRevision.doc_id)
    ))


def marker(session: Session) -> int | None:
    return session.scalar(select(func.max(ContentRevision.id)))


class DatabaseSource:
    """The published versions, for ``CatalogStore`` (bot.guides.catalog.PublishedSource).

    ``engine_of`` is called each time, so a test (or the app) may swap the engine under it.
    """

    def __init__(self, engine_of: Callable[[], Engine]) -> None:
        self.engine_of = engine_of

    def marker(self) -> int | None:
        with Session(self.engine_of()) as session:
            return marker(session)

    def documents(self) -> tuple[int | None, dict[str, str]]:
        # One transaction: the marker and the documents belong to the same moment.
        with Session(self.engine_of()) as session, session.begin():
            rows = newest_per_document(session)
            return marker(session), {DocRef(r.kind, r.doc_id).file_name: r.content for r in rows}


# --- writing (the caller commits) -------------------------------------------------------------------


def record(session: Session, who: Editor, action: str, ref: DocRef, number: int | None = None, **detail: Any) -> None:
    session.add(AuditEntry(
        at=utcnow(), actor=who.username[:64], department=(who.department or None), action=action, kind=ref.kind,
        doc_id=ref.doc_id[:64], revision=number, detail=detail,
    ))


def save_draft(
    session: Session, ref: DocRef, text: str, who: Editor, guides_dir: Path, *, lock_version: int | None = None,
) -> ContentDraft:
    """Create or update the document's draft. ``lock_version``: the one the editor's page showed."""
    draft = draft_of(session, ref)
    now = utcnow()
    if draft is None:
        if lock_version:
            raise Conflict("这份草稿已被发布或放弃，您的修改未保存；请重新打开后再改")
        draft = ContentDraft(
            kind=ref.kind, doc_id=ref.doc_id, content=text, base_number=published(session, ref, guides_dir).number,
            lock_version=1, created_by=who.username, updated_by=who.username, updated_at=now,
        )
        session.add(draft)
    else:
        if lock_version is not None and lock_version != draft.lock_version:
            raise Conflict(f"草稿在您打开页面后已被 {draft.updated_by} 修改，您的修改未保存；请查看最新草稿后再改")
        if draft.content == text:
            return draft
        draft.content = text
        draft.lock_version += 1
        draft.updated_by = who.username
        draft.updated_at = now
    session.flush()
    record(session, who, "draft_saved", ref, lock=draft.lock_version)
    return draft


def discard_draft(session: Session, ref: DocRef, who: Editor) -> None:
    draft = draft_of(session, ref)
    if draft is None:
        raise NotFound("没有草稿")
    session.delete(draft)
    record(session, who, "draft_discarded", ref)


def _next_number(session: Session, ref: DocRef) -> int:
    top = session.scalar(
        select(func.max(ContentRevision.number)).where(ContentRevision.kind == ref.kind, ContentRevision.doc_id == ref.doc_id)
    )
    return (top or 0) + 1


def _add_revision(
    session: Session, ref: DocRef, text: str, before: str, who: Editor, note: str, restored_from: int | None = None,
) -> ContentRevision:
    row = ContentRevision(
        kind=ref.kind, doc_id=ref.doc_id, number=_next_number(session, ref), content=text, sha256=sha256(text),
        author=who.username, department=who.department, note=note.strip()[:MAX_NOTE], restored_from=restored_from,
        diff=unified_diff(before, text, ref.file_name), created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def _baseline(session: Session, ref: DocRef, guides_dir: Path) -> str:
    """The text now served; on a document's first publish its file becomes version 1."""
    current = published(session, ref, guides_dir)
    if current.revision is None and current.text is not None:
        _add_revision(session, ref, current.text, "", Editor(FILE_AUTHOR), f"安装时的内容（guides/{ref.file_name}）")
    return current.text or ""


def publish(
    session: Session, ref: DocRef, who: Editor, guides_dir: Path, note: str, *,
    lock_version: int | None = None, overwrite: bool = False,
) -> ContentRevision:
    """Publish the document's draft (the caller has checked it). Raises Conflict when someone
    published after the draft was started, unless ``overwrite``."""
    draft = draft_of(session, ref)
    if draft is None:
        raise NotFound("没有可发布的草稿")
    if lock_version is not None and lock_version != draft.lock_version:
        raise Conflict(f"草稿在您打开页面后已被 {draft.updated_by} 修改；请查看最新草稿后再发布")
    current = published(session, ref, guides_dir)
    if current.number != draft.base_number and not overwrite:
        by = f"（{current.revision.author}）" if current.revision else ""
        raise Conflict(
            f"草稿是在第 {draft.base_number} 版基础上修改的，此后已发布了第 {current.number} 版{by}；"
            "请先看看差异，确认要覆盖后再发布"
        )
    if current.text == draft.content:
        raise VersionError("草稿与线上版本相同，无需发布")
    before = _baseline(session, ref, guides_dir)
    row = _add_revision(session, ref, draft.content, before, who, note)
    session.delete(draft)
    record(session, who, "published", ref, row.number, note=row.note, base=draft.base_number, overwrite=overwrite)
    return row


def restore(session: Session, ref: DocRef, number: int, who: Editor, guides_dir: Path, note: str = "") -> ContentRevision:
    """Publish a copy of version ``number`` as the newest version (the draft, if any, stays)."""
    old = revision(session, ref, number)
    if old is None:
        raise NotFound(f"没有第 {number} 版")
    current = published(session, ref, guides_dir)
    if current.text == old.content:
        raise VersionError(f"线上版本已经与第 {number} 版相同")
    before = _baseline(session, ref, guides_dir)
    row = _add_revision(session, ref, old.content, before, who, note or f"恢复到第 {number} 版", restored_from=number)
    record(session, who, "restored", ref, row.number, restored_from=number)
    return row


def export(session: Session, guides_dir: Path, who: Editor) -> list[str]:
    """Write every document's newest published version to its file under ``guides_dir``; the
    names of the files that changed. The files then equal what citizens are served."""
    written: list[str] = []
    for row in newest_per_document(session):
        ref = DocRef(row.kind, row.doc_id)
        path = guides_dir / ref.file_name
        if file_text(guides_dir, ref) == row.content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(row.content.encode("utf-8"))
        tmp.replace(path)  # atomic: a process reading the directory never sees half a file
        written.append(ref.file_name)
        record(session, who, "exported", ref, row.number, file=ref.file_name)
    return written
