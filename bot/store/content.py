"""Versions of the content staff edit in the browser (guides, reply wording, policies), and the audit log.

Generic by design: a document is a (kind, doc_id) pair, its content the YAML text exactly as it
would stand in its file under guides/, so exporting back to the files loses nothing.

- ``content_revisions`` is append-only: every publish (and every restore, which publishes a copy
  of an earlier version) adds a row with its author, time, note and the diff against the version
  before. The newest row of a document is what the running system serves; the largest id of the
  table is the publication marker every process polls to know when to reload.
- ``content_drafts`` holds at most one draft per document, shared by the department's editors,
  with an optimistic lock so two people saving at once cannot overwrite each other unseen.
- ``audit_log`` records who did what to which document, including refusals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow

KINDS: tuple[str, ...] = ("guide", "replies", "policy")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ContentRevision(Base):
    """One published version of a document; never changed or deleted."""

    __tablename__ = "content_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    doc_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int]  # 1, 2, ... per document: 第 N 版
    content: Mapped[str] = mapped_column(Text)  # the YAML text, as in the file
    sha256: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(500), default="")
    restored_from: Mapped[int | None]  # the number of the version this one copies back
    diff: Mapped[str] = mapped_column(Text, default="")  # unified diff against the version before
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "doc_id", "number"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
    )

    def __repr__(self) -> str:
        return f"ContentRevision({self.kind}/{self.doc_id} #{self.number})"


class ContentDraft(Base):
    """The work in progress on one document, not served to citizens until published."""

    __tablename__ = "content_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    doc_id: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    base_number: Mapped[int]  # the published version it was started from (0: the file in guides/ or a new one)
    lock_version: Mapped[int] = mapped_column(default=1)  # bumped on every save (optimistic locking)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "doc_id"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
    )


class AuditEntry(Base):
    """Who did what to which document (and what they were refused)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))  # draft_saved, published, restored, draft_discarded, denied, exported
    kind: Mapped[str] = mapped_column(String(16))
    doc_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int | None]  # the version number published or restored
    detail: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_audit_log_kind_doc_id_at", "kind", "doc_id", "at"),
        Index("ix_audit_log_at", "at"),
    )
