"""Quiet hours in Beijing time, across midnight, whatever zone the moment is given in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import Settings
from bot.push.quiet import BEIJING, QuietHours


def bj(hour: int, minute: int = 0, day: int = 22) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BEIJING)


def test_across_midnight() -> None:
    quiet = QuietHours.parse("22:00-08:00")
    assert quiet is not None
    assert not quiet.contains(bj(21, 59))
    assert quiet.contains(bj(22, 0)) and quiet.contains(bj(3)) and quiet.contains(bj(7, 59))
    assert not quiet.contains(bj(8, 0))
    assert quiet.ends_after(bj(23, 30)) == bj(8, day=23)  # the next morning
    assert quiet.ends_after(bj(6, 15)) == bj(8)  # the same morning
    assert quiet.ends_after(bj(12)) is None


def test_beijing_time_whatever_the_zone_of_the_moment() -> None:
    quiet = QuietHours.parse("22:00-08:00")
    assert quiet is not None
    late = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    assert quiet.contains(late)
    resume = quiet.ends_after(late)
    assert resume == datetime(2026, 11, 23, 0, 0, tzinfo=UTC) and resume.tzinfo == UTC


def test_within_one_day() -> None:
    quiet = QuietHours.parse(" 12:00 - 13:30 ")
    assert quiet is not None
    assert quiet.contains(bj(12, 45)) and not quiet.contains(bj(13, 30))
    assert quiet.ends_after(bj(12)) == bj(13, 30)


@pytest.mark.parametrize("text", ["", "  ", None])
def test_none(text: str | None) -> None:
    assert QuietHours.parse(text) is None


@pytest.mark.parametrize("text", ["22-8", "25:00-08:00", "22:00-22:00", "晚上十点到早上八点"])
def test_unreadable_quiet_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        QuietHours.parse(text)


def test_the_settings_refuse_unreadable_quiet_hours_and_rates() -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        Settings(push_quiet_hours="22-8")
    with pytest.raises(ValueError):
        Settings(push_rate_limit="very fast")
    assert Settings(push_quiet_hours="22:00-08:00", push_rate_limit="5/second").push_rate_limit == "5/second"
