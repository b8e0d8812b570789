"""Whether a policy is in force on a day, and whether its window ends soon, told to staff.

A policy past its ``valid_until`` is no longer matched or pushed, and nothing else says so: the
enterprises simply stop hearing of it. So the lint, the editor's checks and its list of documents
remind the department a month ahead, and say plainly when a window has ended or not yet begun.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from bot.guides.loader import ParsedFile, Problem, node_line
from bot.policies.schema import Policy

ENDING_SOON_DAYS = 30  # a month: time for the department to confirm a renewal and publish new dates

State = Literal["pending", "in_force", "ending", "ended"]


@dataclass(frozen=True)
class Validity:
    state: State
    days_left: int  # days from today to valid_until (negative once ended)
    valid_from: date
    valid_until: date

    @property
    def tag(self) -> str:
        """A short label for lists: 未生效 / 12 天后到期 / 已到期 ('' while comfortably in force)."""
        if self.state == "pending":
            return "未生效"
        if self.state == "ended":
            return "已到期"
        if self.state == "ending":
            return "今天到期" if self.days_left == 0 else f"{self.days_left} 天后到期"
        return ""

    @property
    def css(self) -> str:
        """The tag's class in the desk's stylesheet (the queue's overdue / due-soon colours)."""
        return {"ended": "overdue", "ending": "due-soon", "pending": "pending"}.get(self.state, "")


def validity(valid_from: date, valid_until: date, today: date, soon_days: int = ENDING_SOON_DAYS) -> Validity:
    days_left = (valid_until - today).days
    state: State
    if today < valid_from:
        state = "pending"
    elif days_left < 0:
        state = "ended"
    elif days_left <= soon_days:
        state = "ending"
    else:
        state = "in_force"
    return Validity(state, days_left, valid_from, valid_until)


def validity_problems(policy: Policy, parsed: ParsedFile, name: str, today: date) -> list[Problem]:
    """Reminders (never errors: an ended policy is a fact, not a fault in the file) about the window."""
    v = validity(policy.valid_from, policy.valid_until, today)
    until = policy.valid_until.isoformat()
    if v.state == "ended":
        loc: tuple[str | int, ...] = ("valid_until",)
        message = f"政策已于 {until} 到期，不再匹配和推送；如已延续，请更新 valid_until"
    elif v.state == "ending":
        loc = ("valid_until",)
        when = "今天" if v.days_left == 0 else f"{v.days_left} 天后"
        message = f"政策将于 {until} 到期（{when}），到期后不再匹配和推送；如将延续，请及时更新 valid_until"
    elif v.state == "pending":
        loc = ("valid_from",)
        message = f"政策自 {policy.valid_from.isoformat()} 起生效，此前不匹配、不推送"
    else:
        return []
    return [Problem(name, node_line(parsed.node, loc), message, "提醒", loc=loc)]
