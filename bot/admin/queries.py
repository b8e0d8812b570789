"""The queue: which tickets a member of staff sees, in what order, and how urgent each one is.

A ticket belongs to every department in its ``departments`` (a JSON array: the lead first, then
the joint ones). Staff see the tickets whose array holds their department; administrators see all.
The test runs inside the database: ``departments @> '["县公安局"]'`` on PostgreSQL (JSONB), a
``json_each`` look-up on SQLite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, exists, func, literal, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from bot.admin.auth import StaffUser
from bot.complaints.calendar import add_working_days, local_date
from bot.complaints.models import OPEN_STATUSES, STATUS_LABELS, Status, Ticket

PER_PAGE = 20

# The status filter of the queue: "open" (default) is everything not yet 办结, "all" everything.
FILTERS: dict[str, str] = {"open": "未办结", **{s.value: STATUS_LABELS[s] for s in Status}, "all": "全部"}
_OPEN_VALUES = [s.value for s in OPEN_STATUSES]


def in_department(dialect: str, department: str) -> ColumnElement[bool]:
    """SQL: the ticket's departments include ``department``."""
    if dialect == "postgresql":
        return type_coerce(Ticket.departments, JSONB).contains([department])
    members = func.json_each(Ticket.departments).table_valued("value").alias("dept")
    return exists(select(literal(1)).select_from(members).where(members.c.value == department))


def scope(dialect: str, user: StaffUser) -> ColumnElement[bool]:
    """SQL: the tickets ``user`` may see."""
    return true() if user.admin else in_department(dialect, user.department)


def status_clause(status: str) -> ColumnElement[bool]:
    if status == "open":
        return Ticket.status != Status.CLOSED.value
    if status == "all" or status not in FILTERS:
        return true()
    return Ticket.status == status


@dataclass(frozen=True)
class Urgency:
    """How urgent an open ticket is: 已超期 (red), 即将到期 (amber: due within 1 working day), or none."""

    key: str  # "overdue", "due-soon" or ""
    label: str


NONE = Urgency("", "")
OVERDUE = Urgency("overdue", "已超期")
DUE_SOON = Urgency("due-soon", "即将到期")


@dataclass(frozen=True)
class Clock:
    """Today (Beijing) and the last day that counts as "nearly due": the next working day."""

    today: date
    soon: date

    @classmethod
    def at(cls, now: datetime) -> Clock:
        today = local_date(now)
        return cls(today, add_working_days(today, 1))

    def urgency(self, ticket: Ticket) -> Urgency:
        if ticket.status not in _OPEN_VALUES:
            return NONE  # answered or closed: nothing is waiting for the department
        if ticket.deadline < self.today:
            return OVERDUE
        if ticket.deadline <= self.soon:
            return DUE_SOON
        return NONE


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    total: int
    page: int
    pages: int
    overdue: int  # in the whole scope, not only this page
    due_soon: int


def queue(session: Session, user: StaffUser, status: str, page: int, clock: Clock, per_page: int = PER_PAGE) -> QueuePage:
    """One page of the tickets ``user`` may see, earliest deadline first, with the scope's counts."""
    dialect = session.get_bind().dialect.name
    where = [scope(dialect, user), status_clause(status)]
    total = session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    tickets = list(
        session.scalars(
            select(Ticket).where(*where).order_by(Ticket.deadline, Ticket.accepted_at, Ticket.id)
            .offset((page - 1) * per_page).limit(per_page)
        )
    )
    is_open = Ticket.status.in_(_OPEN_VALUES)
    overdue, due_soon = session.execute(
        select(
            func.coalesce(func.sum(case((is_open & (Ticket.deadline < clock.today), 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((is_open & (Ticket.deadline >= clock.today) & (Ticket.deadline <= clock.soon), 1), else_=0)), 0
            ),
        ).where(scope(dialect, user))
    ).one()
    return QueuePage(tickets, total, page, pages, int(overdue), int(due_soon))
