"""API shapes of stored records, kept apart from the ORM models.

A notice is served to whoever holds its link, so the response carries what the citizen was told
and nothing about who they are: no user id.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bot.channels.messages import ChecklistMessage
from bot.store.models import Notice


def notice_path(notice_id: str) -> str:
    """The printable page of a notice, relative to the site root (what a LinkMessage points to)."""
    return f"/notices/{notice_id}"


class NoticeOut(BaseModel):
    id: str
    guide_id: str
    guide_title: str
    guide_version: str | None = None
    items: list[str]
    answers: dict[str, str]
    checklist: ChecklistMessage
    created_at: datetime
    url: str  # the printable page

    @classmethod
    def from_notice(cls, notice: Notice) -> NoticeOut:
        return cls(
            id=notice.id,
            guide_id=notice.guide_id,
            guide_title=notice.guide_title,
            guide_version=notice.guide_version,
            items=list(notice.items),
            answers=dict(notice.answers),
            checklist=ChecklistMessage.model_validate(notice.checklist),
            created_at=notice.created_at,
            url=notice_path(notice.id),
        )
