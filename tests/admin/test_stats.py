"""The 有诉即办 statistics on a seeded dataset, checked against numbers worked out by hand
(on SQLite and on PostgreSQL: the SQL differs, the numbers must not).

Today is Friday 2026-11-27, 10:00 Beijing time. Period: 2026-11-16 (Mon) to 2026-11-27. No holidays
in these weeks. A = 县公安局, B = 县人社局. "wd" = working day.

| # | dept | accepted (Beijing)   | next wd | taken up          | deadline | answered         | status (rating)        |
|---|------|----------------------|---------|-------------------|----------|------------------|------------------------|
| 1 | A    | Mon 11-16 09:00      | 11-17   | 11-17 in time     | 11-19    | 11-18 on time    | 已办结 (满意)           |
| 2 | A    | Mon 11-16 09:00      | 11-17   | 11-18 late        | 11-19→25 | 11-20 late, then | 办理中 (不满意: reopened,|
|   |      |                      |         |                   |          | reopened: none   |  new deadline 11-25)   |
| 3 | A, B | Wed 11-18 09:00      | 11-19   | 11-19 in time     | 11-25    | 11-24 on time    | 已答复 (非常满意)        |
| 4 | B    | Thu 11-26 09:00      | 11-27   | – (not yet due)   | 12-01    | – (not yet due)  | 已转办                  |
| 5 | B    | Fri 11-20 09:00      | 11-23   | – (late)          | 11-25    | – (late)         | 已转办                  |
| 6 | A    | Tue 11-10 (outside)  | 11-11   | 11-10 in time     | 11-13    | 11-12 on time    | 已办结 (基本满意)        |
| 7 | A    | Sat 11-21 01:00      | 11-23   | Tue 11-24 07:00   | 11-25    | – (late)         | 办理中                  |
|   |      |                      |         | late (UTC: 11-23!)|          |                  |                        |
| 9 | A    | Sun 11-15 23:30      | 11-16   | –                 | 11-18    | –                | 已转办 (outside: UTC    |
|   |      | (outside)            |         |                   |          |                  |  would say 11-15 too)  |
|10 | B    | Mon 11-16 00:30      | 11-17   | 11-17 23:00 in    | 11-19    | 11-19 21:00 on   | 已答复                  |
|   |      | (UTC: Sun 11-15!)    |         | time              |          | time             |                        |

In the period — A: 1, 2, 3, 7; B: 3, 4, 5, 10; overall: 1, 2, 3, 4, 5, 7, 10.
- A: 受理及时 2/4 (1, 3 of 1, 2, 3, 7); 按期答复 2/4; 办结 1/4; 满意 2/3 (1, 3 of 1, 2, 3); open overdue 2 (2, 7).
- B: 受理及时 2/3 (3, 10 of 3, 5, 10; 4 not due); 按期答复 2/3; 办结 0/4; 满意 1/1; open overdue 1 (5).
- overall: 受理及时 3/6; 按期答复 3/6; 办结 1/7; 满意 2/3; open overdue 3 (2, 5, 7).
All time (period=all), overall adds 6 and 9: 受理及时 4/8; 按期答复 4/8; 办结 2/9; 满意 3/4; open overdue 4.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.admin import stats
from bot.admin.auth import StaffUser
from bot.complaints import service
from bot.complaints.models import Status
from tests.admin.conftest import HOTLINE, LABOUR, POLICE, Clock, Tickets, bj

A, B = POLICE, LABOUR
NOW = bj(2026, 11, 27, 10)
PERIOD = (date(2026, 11, 16), date(2026, 11, 27))
ADMIN = StaffUser(0, "admin", HOTLINE, True, 0, "")
POLICE_USER = StaffUser(0, "police", A, False, 0, "")


def _seed(tickets: Tickets, session: Session) -> dict[int, str]:
    a = service.Actor("staff", "police", A)
    b = service.Actor("staff", "labour", B)
    made: dict[int, str] = {}

    t = tickets.make([A], user_id="u1", now=bj(2026, 11, 16, 9))
    service.start(session, t, a, now=bj(2026, 11, 17, 10))
    service.answer(session, t, "已处理", a, now=bj(2026, 11, 18, 10))
    service.rate(session, t, "满意", "u1", now=bj(2026, 11, 18, 12))
    service.revisit(session, t, a, "回访", now=bj(2026, 11, 19, 10))
    service.close(session, t, a, now=bj(2026, 11, 20, 10))
    made[1] = t.no

    t = tickets.make([A], user_id="u2", now=bj(2026, 11, 16, 9))
    service.start(session, t, a, now=bj(2026, 11, 18, 10))
    service.answer(session, t, "已处理", a, now=bj(2026, 11, 20, 10))
    service.rate(session, t, "不满意", "u2", now=bj(2026, 11, 20, 16))
    assert t.status == Status.IN_PROGRESS and t.deadline == date(2026, 11, 25)
    made[2] = t.no

    t = tickets.make([A, B], user_id="u3", now=bj(2026, 11, 18, 9))
    assert t.deadline == date(2026, 11, 25)
    service.start(session, t, a, now=bj(2026, 11, 19, 10))
    service.answer(session, t, "联合答复", a, now=bj(2026, 11, 24, 10))
    service.rate(session, t, "非常满意", "u3", now=bj(2026, 11, 24, 12))
    made[3] = t.no

    t = tickets.make([B], user_id="u4", now=bj(2026, 11, 26, 9))
    assert t.deadline == date(2026, 12, 1)
    made[4] = t.no

    t = tickets.make([B], user_id="u5", now=bj(2026, 11, 20, 9))
    made[5] = t.no

    t = tickets.make([A], user_id="u6", now=bj(2026, 11, 10, 9))
    service.start(session, t, a, now=bj(2026, 11, 10, 15))
    service.answer(session, t, "已处理", a, now=bj(2026, 11, 12, 10))
    service.rate(session, t, "基本满意", "u6", now=bj(2026, 11, 12, 12))
    service.revisit(session, t, a, now=bj(2026, 11, 13, 9))
    service.close(session, t, a, now=bj(2026, 11, 13, 10))
    made[6] = t.no

    t = tickets.make([A], user_id="u7", now=bj(2026, 11, 21, 1))
    service.start(session, t, a, now=bj(2026, 11, 24, 7))  # 2026-11-23 23:00 UTC
    made[7] = t.no

    t = tickets.make([A], user_id="u9", now=bj(2026, 11, 15, 23, 30))
    made[9] = t.no

    t = tickets.make([B], user_id="u10", now=bj(2026, 11, 16, 0, 30))  # 2026-11-15 16:30 UTC
    service.start(session, t, b, now=bj(2026, 11, 17, 23))
    service.answer(session, t, "已处理", b, now=bj(2026, 11, 19, 21))
    made[10] = t.no
    session.commit()
    return made


def _numbers(row: stats.DepartmentStats) -> tuple[object, ...]:
    return (
        row.total,
        (row.taken_in_time.numerator, row.taken_in_time.denominator),
        (row.answered_on_time.numerator, row.answered_on_time.denominator),
        (row.closed.numerator, row.closed.denominator),
        (row.satisfied.numerator, row.satisfied.denominator),
        row.open_overdue,
    )


@pytest.fixture
def seeded(tickets: Tickets, session: Session, clock: Clock) -> dict[int, str]:
    clock.now = NOW
    return _seed(tickets, session)


def test_rates_per_department_match_the_hand_computed_ones(seeded: dict[int, str], session: Session) -> None:
    report = stats.report(session, ADMIN, NOW, *PERIOD)
    rows = {r.department: _numbers(r) for r in report.departments}
    assert rows == {
        A: (4, (2, 4), (2, 4), (1, 4), (2, 3), 2),
        B: (4, (2, 3), (2, 3), (0, 4), (1, 1), 1),
    }
    assert report.overall is not None
    assert _numbers(report.overall) == (7, (3, 6), (3, 6), (1, 7), (2, 3), 3)
    by_name = {r.department: r for r in report.departments}
    assert by_name[A].taken_in_time.percent == "50.0%" and by_name[B].satisfied.percent == "100.0%"
    assert report.overall.closed.percent == "14.3%"


def test_all_time_and_empty_periods(seeded: dict[int, str], session: Session) -> None:
    everything = stats.report(session, ADMIN, NOW)
    assert everything.overall is not None
    assert _numbers(everything.overall) == (9, (4, 8), (4, 8), (2, 9), (3, 4), 4)
    assert _numbers(next(r for r in everything.departments if r.department == A)) == (6, (3, 6), (3, 6), (2, 6), (3, 4), 3)
    nothing = stats.report(session, ADMIN, NOW, date(2025, 1, 1), date(2025, 1, 31))
    assert nothing.departments == [] and nothing.overall is not None and nothing.overall.total == 0
    assert nothing.overall.taken_in_time.percent == "—"  # no denominator: no rate, not 100%


def test_staff_see_their_department_only(seeded: dict[int, str], session: Session) -> None:
    report = stats.report(session, POLICE_USER, NOW, *PERIOD)
    assert [r.department for r in report.departments] == [A]
    assert _numbers(report.departments[0]) == (4, (2, 4), (2, 4), (1, 4), (2, 3), 2)
    assert report.overall is None
    hotline = StaffUser(0, "h", HOTLINE, False, 0, "")
    empty = stats.report(session, hotline, NOW, *PERIOD)
    assert [(_numbers(r), r.department) for r in empty.departments] == [((0, (0, 0), (0, 0), (0, 0), (0, 0), 0), HOTLINE)]


def test_a_report_is_three_queries_whatever_the_number_of_tickets(
    seeded: dict[int, str], session: Session, engine: Engine
) -> None:
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        stats.report(session, ADMIN, NOW, *PERIOD)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) == 3  # acceptance days; per department (GROUP BY); overall
    assert all("count(" in s.lower() or "distinct" in s.lower() for s in selects)


def test_the_stats_page_shows_numbers_definitions_and_charts(
    seeded: dict[int, str], signed_in: Callable[[str], TestClient]
) -> None:
    admin = signed_in("admin")
    page = admin.get("/admin/complaints/stats?from=2026-11-16&to=2026-11-27")
    assert page.status_code == 200
    html = page.text
    for expected in ("受理及时率", "按期答复率", "办结率", "满意率", "50.0% <span class=\"muted\">（2/4）</span>",
                     "66.7% <span class=\"muted\">（2/3）</span>", "14.3% <span class=\"muted\">（1/7）</span>",
                     "全部部门（按工单）", "受理当日之后第一个工作日结束前", "2026-11-16 至 2026-11-27"):
        assert expected in html, expected
    assert html.count("<svg") == 4 and html.count('class="bar ') >= 4 * 3
    assert "<script" not in html
    police = signed_in("police").get("/admin/complaints/stats?from=2026-11-16&to=2026-11-27").text
    assert f'data-department="{A}"' in police and f'data-department="{B}"' not in police and "全部部门（按工单）" not in police


def test_the_stats_api(seeded: dict[int, str], signed_in: Callable[[str], TestClient]) -> None:
    admin = signed_in("admin")
    body = admin.get("/admin/api/stats?from=2026-11-16&to=2026-11-27").json()
    assert (body["start"], body["end"], body["today"]) == ("2026-11-16", "2026-11-27", "2026-11-27")
    assert body["overall"]["answered_on_time"] == {"numerator": 3, "denominator": 6, "rate": 0.5}
    assert [d["department"] for d in body["departments"]] == sorted([A, B])
    assert set(body["definitions"]) == {"taken_in_time", "answered_on_time", "closed", "satisfied"}
    assert admin.get("/admin/api/stats?from=yesterday").status_code == 422
    assert admin.get("/admin/api/stats?period=all").json()["overall"]["total"] == 9
    assert signed_in("police").get("/admin/api/stats?period=all").json()["overall"] is None


def test_a_bad_date_on_the_page_says_so_and_uses_this_year(
    seeded: dict[int, str], signed_in: Callable[[str], TestClient]
) -> None:
    page = signed_in("admin").get("/admin/complaints/stats?from=2026-13-01").text
    assert "日期格式不对" in page and "2026-01-01 至 2026-11-27" in page
