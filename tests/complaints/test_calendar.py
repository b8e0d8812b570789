"""Working-day deadlines: 2026 statutory holidays and make-up days from chinese_calendar, Mon–Fri after."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from bot.complaints.calendar import (
    add_working_days,
    beijing_today,
    deadline_for,
    is_working_day,
    local_date,
    working_days_for,
)

SPRING_FESTIVAL_2026 = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]  # 2月15日（日）至23日（一）
MAKE_UP_2026 = [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)]


def test_the_2026_calendar_is_what_the_deadlines_below_assume() -> None:
    """The State Council's 2026 arrangement, as chinese_calendar has it."""
    for day in SPRING_FESTIVAL_2026:
        assert chinese_calendar.is_holiday(day), day
        assert chinese_calendar.get_holiday_detail(day) == (True, "Spring Festival"), day
    # 春节调休上班：2月14日（星期六）、2月28日（星期六）
    assert date(2026, 2, 14).weekday() == 5 and date(2026, 2, 28).weekday() == 5
    made_up = sorted(d for d in chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31)) if d.weekday() >= 5)
    assert made_up == MAKE_UP_2026
    assert chinese_calendar.get_holiday_detail(date(2026, 2, 14)) == (False, "Spring Festival")
    assert chinese_calendar.get_holiday_detail(date(2026, 2, 28)) == (False, "Spring Festival")
    assert chinese_calendar.is_workday(date(2026, 2, 13)) and chinese_calendar.is_workday(date(2026, 2, 24))


def test_working_days() -> None:
    assert is_working_day(date(2026, 2, 14))  # a Saturday, but a make-up working day
    assert not is_working_day(date(2026, 2, 16))  # a Monday in the Spring Festival holiday
    assert not is_working_day(date(2026, 2, 21))  # a Saturday in it
    assert is_working_day(date(2026, 2, 28))  # make-up Saturday
    assert not is_working_day(date(2026, 3, 1))  # an ordinary Sunday
    assert not is_working_day(date(2026, 10, 5))  # National Day week, a Monday


@pytest.mark.parametrize(
    ("accepted", "days", "deadline"),
    [
        # Accepted Friday 13 Feb: Sat 14 (make-up) is day 1, 15–23 are the holiday, Tue 24 and Wed 25.
        (date(2026, 2, 13), 3, date(2026, 2, 25)),
        (date(2026, 2, 13), 5, date(2026, 2, 27)),
        # Accepted Thursday 12 Feb: Fri 13, Sat 14 (make-up), then Tue 24 after the holiday.
        (date(2026, 2, 12), 3, date(2026, 2, 24)),
        # Accepted on the make-up Saturday itself: the count starts the next day, inside the holiday.
        (date(2026, 2, 14), 3, date(2026, 2, 26)),
        # Accepted in the holiday: the first working day after it is day 1.
        (date(2026, 2, 18), 3, date(2026, 2, 26)),
        (date(2026, 2, 18), 5, date(2026, 2, 28)),  # ... and day 5 is the make-up Saturday 28 Feb
        # Wed 25: Thu 26, Fri 27, Sat 28 (make-up working day) is the 3rd working day.
        (date(2026, 2, 25), 3, date(2026, 2, 28)),
        # An ordinary week: Friday + 3 = Wednesday, Monday + 5 = next Monday.
        (date(2026, 3, 6), 3, date(2026, 3, 11)),
        (date(2026, 3, 9), 5, date(2026, 3, 16)),
        # National Day: accepted Wed 30 Sep, 1–7 Oct off, Thu 8, Fri 9, Sat 10 (make-up).
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
    ],
)
def test_add_working_days_2026(accepted: date, days: int, deadline: date) -> None:
    assert add_working_days(accepted, days) == deadline


def test_single_department_3_days_several_5() -> None:
    assert working_days_for(1) == 3
    assert working_days_for(2) == 5
    assert working_days_for(7) == 5
    accepted = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, Friday 13 Feb
    assert deadline_for(accepted, 1) == date(2026, 2, 25)
    assert deadline_for(accepted, 3) == date(2026, 2, 27)


def test_dates_are_beijing_dates() -> None:
    # 17:30 UTC on Thursday 12 Feb is 01:30 on Friday 13 Feb in Beijing: counted from Friday.
    late = datetime(2026, 2, 12, 17, 30, tzinfo=UTC)
    assert local_date(late) == date(2026, 2, 13)
    assert deadline_for(late, 1) == date(2026, 2, 25)
    early = datetime(2026, 2, 12, 15, 59, tzinfo=UTC)  # 23:59 on Thursday in Beijing
    assert deadline_for(early, 1) == date(2026, 2, 24)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 2, 12, 12, 0))  # naive: refused


def test_today_is_beijing_today_whatever_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Policy windows are judged on beijing_today(): a server set to UTC-12 must not lag a day behind."""
    monkeypatch.setenv("TZ", "Etc/GMT+12")  # UTC-12: its date differs from Beijing's 20 hours a day
    time.tzset()
    try:
        before = datetime.now(ZoneInfo("Asia/Shanghai"))
        today = beijing_today()
        assert today in (before.date(), datetime.now(ZoneInfo("Asia/Shanghai")).date())  # either side of midnight
        if 0 < before.hour < 20:  # the zone took effect: the machine's own date is a day behind Beijing's
            assert date.today() == today - timedelta(days=1)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_years_the_calendar_does_not_know_fall_back_to_monday_to_friday(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2099, 1, 5))
    assert date(2099, 1, 2).weekday() == 4  # a Friday
    with caplog.at_level(logging.WARNING, logger="bot.complaints.calendar"):
        assert add_working_days(date(2099, 1, 2), 3) == date(2099, 1, 7)  # Mon 5, Tue 6, Wed 7
        assert add_working_days(date(2099, 1, 2), 5) == date(2099, 1, 9)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per deadline, not one per day
    assert "2099" in warnings[0].getMessage() and "Monday-Friday" in warnings[0].getMessage()
    assert is_working_day(date(2099, 1, 5)) and not is_working_day(date(2099, 1, 3))


def test_known_years_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.complaints.calendar"):
        add_working_days(date(2026, 2, 13), 5)
    assert not caplog.records


def test_zero_and_negative() -> None:
    assert add_working_days(date(2026, 2, 13), 0) == date(2026, 2, 13)
    with pytest.raises(ValueError):
        add_working_days(date(2026, 2, 13), -1)
