"""Chinese working days: statutory holidays and make-up working days (调休) from ``chinese_calendar``.

Complaint deadlines are counted in working days from the day after acceptance, in Beijing time:
a matter for one department is answered within 3 working days, one that involves several gets a
solution plan within 5 (seed documents 000/001/003: 有诉即办).

``chinese_calendar`` knows the years the State Council has published (it is updated each
November or December); for any later year the count falls back to Monday–Friday and a warning is
logged, so a deadline is never refused, only possibly a day or two off until the package is
upgraded.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

log = logging.getLogger(__name__)

SINGLE_DEPARTMENT_DAYS = 3
SEVERAL_DEPARTMENTS_DAYS = 5


def _shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database on the machine: China has one offset and no DST
        return timezone(timedelta(hours=8), "Asia/Shanghai")


SHANGHAI = _shanghai()


def local_date(moment: datetime) -> date:
    """The calendar date in Beijing time of an aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: give a timezone-aware value")
    return moment.astimezone(SHANGHAI).date()


def beijing_today() -> date:
    """Today in Beijing, whatever the machine's own time zone: policy windows and deadlines are
    Beijing dates, and a server on UTC would otherwise be a day behind until 08:00."""
    return local_date(datetime.now(UTC))


def _known(day: date) -> bool | None:
    """Whether ``day`` is a working day per the published calendar; None for years it does not know."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def is_working_day(day: date) -> bool:
    """A working day in mainland China (holidays off, make-up Saturdays/Sundays on).

    For a year the calendar does not know yet: Monday to Friday (no warning here; see
    ``add_working_days``, which warns once per deadline).
    """
    known = _known(day)
    return day.weekday() < 5 if known is None else known


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is never counted).

    Accepted on a Friday with 3 days: Monday, Tuesday, Wednesday, so the deadline is Wednesday
    (holidays skipped, make-up working days counted).
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    day = start
    counted = 0
    unknown_years: set[int] = set()
    while counted < days:
        day += timedelta(days=1)
        known = _known(day)
        if known is None:
            unknown_years.add(day.year)
            known = day.weekday() < 5
        if known:
            counted += 1
    if unknown_years:
        years = ", ".join(str(y) for y in sorted(unknown_years))
        log.warning(
            "chinese_calendar has no holiday data for %s: counted Monday-Friday for the deadline after %s; "
            "upgrade the chinesecalendar package once the State Council publishes the holidays",
            years, start.isoformat(),
        )
    return day


def working_days_for(department_count: int) -> int:
    """3 working days for one department, 5 when several are involved."""
    return SEVERAL_DEPARTMENTS_DAYS if department_count > 1 else SINGLE_DEPARTMENT_DAYS


def deadline_for(start: datetime, department_count: int) -> date:
    """The last day (Beijing date) to answer a ticket accepted (or reopened) at ``start``."""
    return add_working_days(local_date(start), working_days_for(department_count))
