"""The notices repository: save an issued 一次告知, read it back by its public id or by user.

Functions take the caller's Session and only flush; the caller commits (one commit per request).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.messages import ChecklistMessage
from bot.store.models import Notice, new_notice_id
from bot.store.privacy import mask

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 32  # Notice.id column; longer ids cannot exist
MAX_USER_ID_LENGTH = 128
MAX_TITLE_LENGTH = 200


def create(
    session: Session,
    *,
    user_id: str,
    checklist: ChecklistMessage,
    items: Sequence[str],
    answers: Mapping[str, str],
    guide_version: str | None,
) -> Notice:
    """Store a notice as it was issued and return it (flushed, with its new public id)."""
    if not user_id or len(user_id) > MAX_USER_ID_LENGTH:
        raise ValueError(f"user_id must be 1..{MAX_USER_ID_LENGTH} characters")
    notice = Notice(
        id=new_notice_id(),
        user_id=user_id,
        guide_id=checklist.guide.id,
        # The column is for listing and counting; the full title is always in `checklist`.
        guide_title=checklist.guide.title[:MAX_TITLE_LENGTH],
        guide_version=guide_version,
        items=[str(i) for i in items],
        answers={str(k): str(v) for k, v in answers.items()},
        checklist=checklist.model_dump(mode="json"),
    )
    session.add(notice)
    session.flush()
    log.info("notice %s issued: guide=%s user=%s", mask(notice.id), notice.guide_id, mask(user_id))
    return notice


def get(session: Session, notice_id: str) -> Notice | None:
    """The notice with this public id, or None (also for ids that cannot be one)."""
    if not notice_id or len(notice_id) > MAX_ID_LENGTH:
        return None
    return session.get(Notice, notice_id)


def recent_for_user(session: Session, user_id: str, limit: int = 10) -> list[Notice]:
    """A user's latest notices, newest first (at most 100)."""
    if limit <= 0:
        return []
    limit = min(limit, 100)
    query = (
        select(Notice)
        .where(Notice.user_id == user_id)
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
