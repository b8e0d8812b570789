"""有诉即办 statistics per department: the four rates the seed documents set targets for.

The seeds (“五件事”实施方案 and the 12345 tasks) ask for 受理及时率 and 办结率 of 100%, 按期回复率
of 100%, and a rising 回访满意率. Here they are, precisely. The tickets counted are those
**accepted in the period** (Beijing dates, both ends included); a ticket counts for every
department in its ``departments`` (lead and joint), and once in the overall row. "Today" is the
Beijing date of the moment the report is made.

受理及时率 (taken up in time)
    numerator: tickets first taken up (the first 开始办理 or 答复 event, by anyone) on or before
    the **first working day after the day of acceptance**;
    denominator: tickets already taken up, plus those not taken up whose first working day after
    acceptance is before today (a ticket still inside that day is not yet counted either way).
按期答复率 (answered on time)
    numerator: tickets whose current answer (``answered_at`` on or after ``sla_start``: a ticket
    reopened after 不满意 needs a new answer) was given on or before the ``deadline`` (3 working
    days for one department, 5 for several; the new deadline after reopening);
    denominator: tickets answered in the current round, plus those not answered whose deadline
    is before today.
办结率 (closed)
    numerator: tickets in status 已办结; denominator: all tickets counted.
满意率 (satisfied)
    numerator: tickets whose current rating is 非常满意, 满意 or 基本满意;
    denominator: tickets with a current rating (不满意 and 非常不满意 count until a new answer
    replaces the rated one).

A rate with a zero denominator is shown as “—”, never as 100%.

Everything is computed inside the database by one aggregate query per report (GROUP BY
department over the ticket × department rows, CASE sums), plus one for the overall row; the
working-day calendar enters the query as a small table (``workcal``: each day of acceptance that
occurs and its next working day, computed with chinese_calendar in Python from the distinct
acceptance days only, not from the tickets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Select, and_, case, cast, column, func, literal, or_, select, true, values
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.admin.auth import StaffUser
from bot.admin.queries import in_department
from bot.complaints.calendar import SHANGHAI, add_working_days, local_date
from bot.complaints.models import OPEN_STATUSES, EventKind, Status, Ticket, TicketEvent

SATISFIED_RATINGS = ("非常满意", "满意", "基本满意")
TAKE_UP_EVENTS = (EventKind.STARTED.value, EventKind.ANSWERED.value)
OVERALL = "全部部门（按工单）"


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> str:
        value = self.value
        return "—" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class DepartmentStats:
    department: str
    total: int  # tickets accepted in the period
    taken_in_time: Rate  # 受理及时率
    answered_on_time: Rate  # 按期答复率
    closed: Rate  # 办结率
    satisfied: Rate  # 满意率
    open_overdue: int  # still waiting for the department, past the deadline


METRICS: tuple[tuple[str, str, str], ...] = (
    (
        "taken_in_time", "受理及时率",
        "受理当日之后第一个工作日结束前开始办理（或直接答复）的工单 ÷ "
        "（已开始办理的工单 + 已过该期限仍未开始办理的工单）",
    ),
    (
        "answered_on_time", "按期答复率",
        "在办理时限（单一部门3个、多部门5个工作日；重新办理后为新时限）内答复的工单 ÷ "
        "（已答复的工单 + 已过时限仍未答复的工单）",
    ),
    ("closed", "办结率", "状态为“已办结”的工单 ÷ 期间受理的全部工单"),
    ("satisfied", "满意率", "评价为非常满意、满意、基本满意的工单 ÷ 已评价的工单（以对当前答复的评价为准）"),
)


@dataclass(frozen=True)
class Report:
    start: date | None
    end: date | None
    today: date
    departments: list[DepartmentStats]
    overall: DepartmentStats | None  # administrators only


def _local_day(dialect: str, moment: ColumnElement[datetime]) -> ColumnElement[date]:
    """SQL: the Beijing calendar date of a UTC timestamp column."""
    if dialect == "postgresql":
        return cast(func.timezone("Asia/Shanghai", moment), Date)
    return func.date(moment, "+8 hours", type_=Date)  # stored as UTC text; China has no DST


def _bounds(start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if start is not None:
        where.append(Ticket.accepted_at >= datetime.combine(start, time(0), SHANGHAI).astimezone(UTC))
    if end is not None:
        where.append(Ticket.accepted_at < datetime.combine(end + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC))
    return where


def _sum(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def report(session: Session, user: StaffUser, now: datetime, start: date | None = None, end: date | None = None) -> Report:
    """The rates of ``user``'s department (an administrator: every department and overall)."""
    dialect = session.get_bind().dialect.name
    today = local_date(now)
    period = _bounds(start, end)
    acc_day = _local_day(dialect, Ticket.accepted_at)
    scoped = [*period] if user.admin else [*period, in_department(dialect, user.department)]

    days = sorted(d for d in session.scalars(select(acc_day).where(*scoped).distinct()) if d is not None)
    if not days:
        empty = [] if user.admin else [_row(user.department, None)]
        return Report(start, end, today, empty, _row(OVERALL, None) if user.admin else None)
    workcal = (
        values(column("day", Date), column("next_day", Date), name="workcal")
        .data([(d, add_working_days(d, 1)) for d in days])
        .cte("workcal")
    )
    taken = (
        select(TicketEvent.ticket_id.label("ticket_id"), func.min(TicketEvent.created_at).label("taken_at"))
        .where(TicketEvent.kind.in_(TAKE_UP_EVENTS))
        .group_by(TicketEvent.ticket_id)
        .subquery("taken")
    )
    taken_day = _local_day(dialect, taken.c.taken_at)
    answered_now = and_(Ticket.answered_at.is_not(None), Ticket.answered_at >= Ticket.sla_start)
    answered_day = _local_day(dialect, Ticket.answered_at)
    today_ = literal(today, Date)
    is_open = Ticket.status.in_([s.value for s in OPEN_STATUSES])
    measures = (
        func.count().label("total"),
        _sum(taken_day <= workcal.c.next_day).label("taken_in_time"),
        _sum(or_(taken.c.taken_at.is_not(None), workcal.c.next_day < today_)).label("take_due"),
        _sum(and_(answered_now, answered_day <= Ticket.deadline)).label("answered_on_time"),
        _sum(or_(answered_now, Ticket.deadline < today_)).label("answer_due"),
        _sum(Ticket.status == Status.CLOSED.value).label("closed"),
        _sum(Ticket.rating.in_(SATISFIED_RATINGS)).label("satisfied"),
        _sum(Ticket.rating.is_not(None)).label("rated"),
        _sum(and_(is_open, Ticket.deadline < today_)).label("open_overdue"),
    )

    def base(*columns: ColumnElement[object]) -> Select[Any]:
        return (
            select(*columns)
            .select_from(Ticket)
            .join(workcal, workcal.c.day == acc_day)
            .outerjoin(taken, taken.c.ticket_id == Ticket.id)
            .where(*period)
        )

    fn = "jsonb_array_elements_text" if dialect == "postgresql" else "json_each"
    dept = getattr(func, fn)(Ticket.departments).table_valued("value").alias("dept")
    department = dept.c.value.label("department")
    per_department = base(department, *measures).join(dept, true()).group_by(dept.c.value).order_by(dept.c.value)
    if not user.admin:
        per_department = per_department.where(dept.c.value == user.department)
    # Sorted here too: the database's collation may order Chinese names differently.
    rows = sorted((_row(r.department, r) for r in session.execute(per_department)), key=lambda r: r.department)
    if not user.admin and not rows:
        rows = [_row(user.department, None)]
    overall = _row(OVERALL, session.execute(base(*measures)).one()) if user.admin else None
    return Report(start, end, today, rows, overall)


def _row(department: str, r: object | None) -> DepartmentStats:
    def get(name: str) -> int:
        return int(getattr(r, name) or 0) if r is not None else 0

    return DepartmentStats(
        department=department,
        total=get("total"),
        taken_in_time=Rate(get("taken_in_time"), get("take_due")),
        answered_on_time=Rate(get("answered_on_time"), get("answer_due")),
        closed=Rate(get("closed"), get("total")),
        satisfied=Rate(get("satisfied"), get("rated")),
        open_overdue=get("open_overdue"),
    )
