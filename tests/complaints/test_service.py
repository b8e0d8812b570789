"""The complaint lifecycle in bot.complaints.service, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import logging
import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.complaints import service
from bot.complaints.models import AppendOnlyError, StaffAccount, Status, Ticket, TicketEvent
from bot.complaints.rules import FALLBACK_DEPARTMENT, Rules
from bot.complaints.service import Actor, Submission
from bot.guides.catalog import Catalog
from bot.store.db import make_sessionmaker

# Friday 13 Feb 2026, 10:00 in Beijing: the day before the Spring Festival make-up Saturday.
ACCEPTED = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)
USER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

POLICE = Actor("staff", "zhang.police", "县公安局")
ENV = Actor("staff", "li.env", "县生态环境分局")
HOTLINE = Actor("staff", "wang.12345", FALLBACK_DEPARTMENT)
URBAN = Actor("staff", "zhao.urban", "县住房建设和城市管理局")
ADMIN = Actor("staff", "root", "县行政审批和政务信息管理局", admin=True)


def _submit(
    session: Session, rules: Rules, catalog: Catalog | None = None, *, key: str = "k-1", text: str = "户口迁移办了一个月还没办好",
    user: str = USER, now: datetime = ACCEPTED, **extra: str | None,
) -> tuple[Ticket, bool]:
    submission = Submission(user_id=user, channel="wechat", idempotency_key=key, text=text, **extra)
    ticket, created = service.create_ticket(session, submission, rules=rules, catalog=catalog, now=now)
    session.commit()
    return ticket, created


def _kinds(session: Session, ticket: Ticket) -> list[str]:
    return [e.kind for e in service.history(session, ticket)]


def test_create(session: Session, rules: Rules, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.complaints"):
        ticket, created = _submit(session, rules, phone="+8613812345678", place="七里营镇")
    assert created
    assert re.fullmatch(r"TS20260213-\d{6}", ticket.no)
    assert ticket.status == Status.ACCEPTED and ticket.status_label == "已受理"
    assert ticket.category == "投诉" or ticket.category in ("求助", "咨询")
    assert ticket.departments == ["县公安局"]
    assert ticket.deadline == date(2026, 2, 25)  # 3 working days across the Spring Festival
    assert ticket.accepted_at == ACCEPTED
    [event] = service.history(session, ticket)
    assert (event.seq, event.kind, event.from_status, event.to_status) == (1, "accepted", None, "accepted")
    assert (event.actor_type, event.actor) == ("citizen", USER)
    assert event.data["departments"] == ["县公安局"] and event.data["deadline"] == "2026-02-25"
    assert event.created_at == ACCEPTED
    # Logs: the ticket number, never the user id or the phone in full.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ticket.no in logged and "oUpF****eS6o" in logged and "138****5678" in logged
    assert USER not in logged and "13812345678" not in logged


def test_several_departments_get_5_working_days(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules, text="烧烤摊占道经营，油烟也很大")
    assert ticket.departments == ["县住房建设和城市管理局", "县生态环境分局"]
    assert ticket.deadline == date(2026, 2, 27)


def test_guide_by_id_or_by_subject(session: Session, rules: Rules, catalog: Catalog) -> None:
    by_id, _ = _submit(session, rules, catalog, key="a", text="宝宝的户口一直办不下来", guide_id="newborn")
    assert (by_id.guide_id, by_id.guide_title) == ("newborn", "新生儿出生一件事")
    assert by_id.departments == ["县卫健委", "县公安局"]
    by_subject, _ = _submit(session, rules, catalog, key="b", text="办了半个月还没办完", subject="新生儿出生一件事")
    assert by_subject.guide_id == "newborn"
    assert by_subject.departments == ["县卫健委", "县公安局", "县人社局", "县医保局"]
    unknown, _ = _submit(session, rules, catalog, key="c", text="停电两天了", guide_id="no_such_guide")
    assert (unknown.guide_id, unknown.guide_title) == ("no_such_guide", None)
    assert unknown.departments == ["新乡县供电公司"]


def test_same_key_twice_is_one_ticket(session: Session, rules: Rules) -> None:
    first, created = _submit(session, rules, key="retry-1")
    again, created_again = _submit(session, rules, key="retry-1")
    assert created and not created_again
    assert again.id == first.id and again.no == first.no
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert session.scalar(select(func.count()).select_from(TicketEvent)) == 1
    # The key belongs to its user: another user's same key is another ticket.
    other, created_other = _submit(session, rules, key="retry-1", user="another-user")
    assert created_other and other.no != first.no


def test_same_key_different_complaint_is_refused(session: Session, rules: Rules) -> None:
    _submit(session, rules, key="k")
    with pytest.raises(service.Conflict, match="提交编号"):
        _submit(session, rules, key="k", text="另一件事：停电了")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_concurrent_double_submission_is_one_ticket(engine: Engine, rules: Rules) -> None:
    """Two requests with the same key at the same moment, each in its own connection."""
    makers = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def submit(key: str) -> None:
        try:
            with makers() as session:
                barrier.wait(timeout=10)
                ticket, created = _submit(session, rules, key=key)
                results.append((ticket.no, created))
        except BaseException as exc:  # reported below
            errors.append(exc)

    for round_ in range(5):  # a few rounds, a new key each: the race is won either way
        results.clear()
        threads = [threading.Thread(target=submit, args=(f"double-tap-{round_}",)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors, errors
        assert len(results) == 2
        assert results[0][0] == results[1][0]  # both callers are told the same ticket number
        assert sorted(created for _, created in results) == [False, True]
        with makers() as session:
            assert session.scalar(select(func.count()).select_from(Ticket)) == round_ + 1
            assert session.scalar(select(func.count()).select_from(TicketEvent)) == round_ + 1


def test_whole_lifecycle(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    t = ACCEPTED
    service.transfer(session, ticket, HOTLINE if FALLBACK_DEPARTMENT in ticket.departments else ADMIN, now=t + timedelta(hours=1))
    assert ticket.status_label == "已转办"
    service.start(session, ticket, POLICE, now=t + timedelta(hours=2))
    assert ticket.status_label == "办理中"
    service.answer(session, ticket, "已为您办理户口迁移，请到七里营派出所领取户口簿。", POLICE, now=t + timedelta(days=1))
    assert ticket.status_label == "已答复" and ticket.answered_by == "县公安局"
    assert service.can_rate(ticket)
    service.rate(session, ticket, "满意", USER, now=t + timedelta(days=1, hours=1))
    assert ticket.status_label == "已答复" and ticket.rating == "满意" and not service.can_rate(ticket)
    service.revisit(session, ticket, POLICE, "电话回访，群众表示已领到户口簿", now=t + timedelta(days=2))
    service.close(session, ticket, POLICE, now=t + timedelta(days=2, hours=1))
    session.commit()
    assert ticket.status == Status.CLOSED and ticket.status_label == "已办结"
    assert ticket.closed_at == t + timedelta(days=2, hours=1)

    events = service.history(session, ticket)
    assert [e.kind for e in events] == ["accepted", "transferred", "started", "answered", "rated", "revisited", "closed"]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.to_status for e in events] == [
        "accepted", "transferred", "in_progress", "answered", "answered", "revisited", "closed",
    ]
    assert all(a.to_status == b.from_status for a, b in itertools.pairwise(events))
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    assert events[3].actor == "zhang.police" and events[3].actor_department == "县公安局"
    assert events[4].actor_type == "citizen" and events[4].data == {"rating": "满意"}
    assert events[1].label == "转办" and events[6].label == "办结"


def test_dissatisfied_reopens(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    service.transfer(session, ticket, ADMIN, now=ACCEPTED)
    service.answer(session, ticket, "已办理。", POLICE, now=ACCEPTED + timedelta(days=1))
    rated_at = datetime(2026, 2, 27, 2, 0, tzinfo=UTC)  # Friday 27 Feb
    service.rate(session, ticket, "不满意", USER, now=rated_at)
    session.commit()
    assert ticket.status == Status.IN_PROGRESS and ticket.status_label == "办理中"
    assert ticket.rating == "不满意" and ticket.reopen_count == 1
    assert ticket.deadline == date(2026, 3, 3)  # a new time limit from the reopening: Sat 28 (make-up), Mon 2, Tue 3
    assert _kinds(session, ticket)[-2:] == ["rated", "reopened"]
    reopened = service.history(session, ticket)[-1]
    assert (reopened.from_status, reopened.to_status, reopened.actor_type) == ("answered", "in_progress", "citizen")
    assert not service.can_rate(ticket)
    with pytest.raises(service.InvalidTransition):
        service.rate(session, ticket, "满意", USER)
    session.rollback()
    # A new answer may be rated again.
    service.answer(session, ticket, "已重新核实并办结。", POLICE, now=rated_at + timedelta(days=1))
    assert ticket.rating is None and service.can_rate(ticket)
    service.rate(session, ticket, "非常满意", USER, now=rated_at + timedelta(days=2))
    session.commit()
    assert ticket.status == Status.ANSWERED and ticket.rating == "非常满意"
    # 非常不满意 after the revisit and even after closing reopens too.
    service.revisit(session, ticket, POLICE)
    service.close(session, ticket, POLICE)
    ticket.rating = None  # (as if a second answer had come: the rule is per answer)
    service.rate(session, ticket, "非常不满意", USER)
    assert ticket.status == Status.IN_PROGRESS and ticket.closed_at is None and ticket.reopen_count == 2


def test_rating_rules(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    with pytest.raises(service.InvalidTransition, match="还没有答复"):
        service.rate(session, ticket, "满意", USER)
    with pytest.raises(service.TicketNotFound):
        service.rate(session, ticket, "满意", "someone-else")
    service.transfer(session, ticket, ADMIN)
    service.answer(session, ticket, "答复。", POLICE)
    with pytest.raises(service.InvalidInput):
        service.rate(session, ticket, "还行", USER)
    service.rate(session, ticket, "基本满意", USER)
    with pytest.raises(service.InvalidTransition, match="已经评价过"):
        service.rate(session, ticket, "满意", USER)


def test_return_routes_again_without_the_returning_department(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules, text="楼下饭店油烟太大，晚上还有噪音")
    assert ticket.departments == ["县生态环境分局"]
    service.transfer(session, ticket, ENV, now=ACCEPTED + timedelta(hours=1))
    service.start(session, ticket, ENV, now=ACCEPTED + timedelta(hours=2))
    reason = "饭店油烟属城管执法范围，非本局职责"
    service.return_ticket(session, ticket, reason, ENV, rules=rules, now=ACCEPTED + timedelta(hours=3))
    session.commit()
    assert ticket.returned_by == ["县生态环境分局"]
    assert ticket.departments == [FALLBACK_DEPARTMENT]  # no other rule fits: the 12345 专班 dispatches it
    assert ticket.status == Status.TRANSFERRED
    assert ticket.deadline == date(2026, 2, 25)  # still counted from acceptance
    returned, rerouted = service.history(session, ticket)[-2:]
    assert (returned.kind, returned.actor, returned.note) == ("returned", "li.env", "饭店油烟属城管执法范围，非本局职责")
    assert returned.data == {"department": "县生态环境分局"}
    assert (rerouted.kind, rerouted.actor_type, rerouted.actor) == ("transferred", "system", "system:routing")
    assert rerouted.data["departments"] == [FALLBACK_DEPARTMENT]
    # The returning department no longer has it; the 专班 dispatches by hand, and cannot return it.
    assert not service.can(ENV, ticket)
    with pytest.raises(service.InvalidTransition, match="兜底"):
        service.return_ticket(session, ticket, "不归我们", HOTLINE, rules=rules)
    service.transfer(session, ticket, HOTLINE, ["县住房建设和城市管理局"], note="转城管执法")
    assert ticket.departments == ["县住房建设和城市管理局"]
    service.start(session, ticket, URBAN)
    service.answer(session, ticket, "已责令商户安装油烟净化设备。", URBAN)
    session.commit()
    assert _kinds(session, ticket) == [
        "accepted", "transferred", "started", "returned", "transferred", "transferred", "started", "answered",
    ]


def test_return_of_a_guide_ticket_keeps_the_rest(session: Session, rules: Rules, catalog: Catalog) -> None:
    ticket, _ = _submit(session, rules, catalog, text="宝宝的户口一直办不下来", guide_id="newborn")
    assert ticket.departments == ["县卫健委", "县公安局"] and ticket.deadline == date(2026, 2, 27)
    service.transfer(session, ticket, ADMIN)
    service.return_ticket(session, ticket, "出生医学证明已签发，户口问题请公安处理", POLICE, rules=rules, catalog=catalog)
    assert ticket.departments == ["县卫健委"]
    assert ticket.deadline == date(2026, 2, 25)  # one department now: 3 working days from acceptance
    with pytest.raises(service.NotAllowed):  # no longer theirs
        service.return_ticket(session, ticket, "again", POLICE, rules=rules, catalog=catalog)
    with pytest.raises(service.InvalidTransition, match="不是工单"):
        service.return_ticket(session, ticket, "again", ADMIN, rules=rules, catalog=catalog, department="县公安局")


def test_escalate_overdue(session: Session, rules: Rules) -> None:
    late, _ = _submit(session, rules, key="late")  # deadline Wed 25 Feb
    answered, _ = _submit(session, rules, key="answered", text="停电两天了")
    service.transfer(session, answered, ADMIN)
    service.answer(session, answered, "已修复。", Actor("staff", "power", "新乡县供电公司"))
    fresh, _ = _submit(session, rules, key="fresh", now=datetime(2026, 2, 25, 2, 0, tzinfo=UTC))
    session.commit()

    on_deadline = datetime(2026, 2, 25, 15, 59, tzinfo=UTC)  # 23:59 on the deadline in Beijing: not late yet
    assert service.escalate_overdue(session, on_deadline) == []
    next_day = datetime(2026, 2, 25, 16, 0, tzinfo=UTC)  # 00:00 on 26 Feb in Beijing
    escalated = service.escalate_overdue(session, next_day)
    session.commit()
    assert [t.no for t in escalated] == [late.no]
    assert late.status == Status.ACCEPTED  # 督办 does not change the status
    assert (late.escalations, late.escalated_for) == (1, date(2026, 2, 25))
    event = service.history(session, late)[-1]
    assert (event.kind, event.actor_type, event.actor, event.from_status, event.to_status) == (
        "escalated", "system", "system:sla", "accepted", "accepted",
    )
    assert event.data == {"deadline": "2026-02-25", "days_overdue": 1, "departments": ["县公安局"]}
    assert event.label == "督办"
    # Once per missed deadline: the next sweeps leave it alone.
    assert service.escalate_overdue(session, next_day + timedelta(days=1)) == []
    # Reopened with a new deadline, it can be escalated again when that one passes too.
    service.transfer(session, late, ADMIN)
    service.answer(session, late, "已办。", POLICE)
    service.rate(session, late, "非常不满意", USER, now=datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # Mon 2 Mar
    session.commit()
    assert late.deadline == date(2026, 3, 5)
    again = service.escalate_overdue(session, datetime(2026, 3, 6, 2, 0, tzinfo=UTC))
    session.commit()
    assert fresh.deadline == date(2026, 2, 28)  # accepted Wed 25 Feb: Thu 26, Fri 27, Sat 28 (make-up)
    assert [t.no for t in again] == [fresh.no, late.no]  # oldest deadline first
    assert late.escalations == 2 and fresh.escalations == 1
    assert [e.kind for e in service.history(session, late)].count("escalated") == 2


def test_escalate_overdue_job(engine: Engine, rules: Rules) -> None:
    with make_sessionmaker(engine)() as session:
        ticket, _ = _submit(session, rules)
    later = datetime(2026, 3, 2, tzinfo=UTC)
    assert service.escalate_overdue_job(engine, later) == [ticket.no]
    assert service.escalate_overdue_job(engine, later) == []  # committed: not escalated twice
    with make_sessionmaker(engine)() as session:
        stored = service.get_ticket(session, ticket.no)
        assert stored is not None and stored.escalations == 1


def test_concurrent_sweeps_escalate_each_ticket_once(engine: Engine, rules: Rules) -> None:
    with make_sessionmaker(engine)() as session:
        numbers = {_submit(session, rules, key=f"k{i}")[0].no for i in range(20)}
    later = datetime(2026, 3, 2, tzinfo=UTC)
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(service.escalate_overdue_job(engine, later))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(no for result in results for no in result) == sorted(numbers)  # each once, by one sweep or the other
    with make_sessionmaker(engine)() as session:
        assert set(session.scalars(select(Ticket.escalations))) == {1}
        assert session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "escalated")) == 20


def test_escalate_overdue_finds_every_open_status(session: Session, rules: Rules) -> None:
    accepted, _ = _submit(session, rules, key="a")
    transferred, _ = _submit(session, rules, key="b")
    service.transfer(session, transferred, ADMIN)
    in_progress, _ = _submit(session, rules, key="c")
    service.transfer(session, in_progress, ADMIN)
    service.start(session, in_progress, POLICE)
    session.commit()
    escalated = service.escalate_overdue(session, datetime(2026, 3, 2, tzinfo=UTC))
    session.commit()
    assert {t.no for t in escalated} == {accepted.no, transferred.no, in_progress.no}
    assert {t.status for t in escalated} == {"accepted", "transferred", "in_progress"}


def test_invalid_transitions(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    with pytest.raises(service.InvalidTransition, match="当前状态为“已受理”，不能开始办理"):
        service.start(session, ticket, POLICE)
    with pytest.raises(service.InvalidTransition, match="不能答复"):
        service.answer(session, ticket, "x", POLICE)
    with pytest.raises(service.InvalidTransition, match="不能回访"):
        service.revisit(session, ticket, POLICE)
    with pytest.raises(service.InvalidTransition, match="不能办结"):
        service.close(session, ticket, POLICE)
    with pytest.raises(service.InvalidTransition, match="不能退回"):
        service.return_ticket(session, ticket, "x", POLICE, rules=rules)
    service.transfer(session, ticket, ADMIN)
    service.start(session, ticket, POLICE)
    with pytest.raises(service.InvalidTransition, match="当前状态为“办理中”，不能转办"):
        service.transfer(session, ticket, ADMIN)
    with pytest.raises(service.InvalidTransition, match="不能重新办理"):
        service.reopen(session, ticket, ADMIN, "x")
    session.commit()
    assert ticket.status == Status.IN_PROGRESS
    assert _kinds(session, ticket) == ["accepted", "transferred", "started"]  # refused changes left no trace


def test_staff_of_other_departments_may_not(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    assert service.can(POLICE, ticket) and service.can(ADMIN, ticket)
    assert not service.can(ENV, ticket) and not service.can(Actor.citizen(USER), ticket)
    account = StaffAccount(username="x", department="县公安局", role="staff", password_hash="-", active=True)
    assert service.can(account, ticket)
    account.active = False
    assert not service.can(account, ticket)
    with pytest.raises(service.NotAllowed):
        service.transfer(session, ticket, ENV)
    with pytest.raises(service.NotAllowed):
        service.transfer(session, ticket, Actor.citizen(USER))
    service.transfer(session, ticket, Actor.system("auto-dispatch"))
    with pytest.raises(service.NotAllowed):
        service.answer(session, ticket, "x", ENV)


def test_input_checks(session: Session, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    service.transfer(session, ticket, ADMIN)
    with pytest.raises(service.InvalidInput, match="答复内容不能为空"):
        service.answer(session, ticket, "   ", POLICE)
    with pytest.raises(service.InvalidInput, match="退回理由不能为空"):
        service.return_ticket(session, ticket, "", POLICE, rules=rules)
    with pytest.raises(service.InvalidInput, match="不能超过"):
        service.answer(session, ticket, "答" * 4001, POLICE)


def test_concurrent_changes_do_not_overwrite_each_other(engine: Engine, rules: Rules) -> None:
    """Two members of staff work from the same loaded ticket: the second save is refused (409)."""
    makers = make_sessionmaker(engine)
    with makers() as setup:
        ticket, _ = _submit(setup, rules)
        service.transfer(setup, ticket, ADMIN)
        setup.commit()
        no = ticket.no
    with makers() as first, makers() as second:
        mine = service.get_ticket(first, no)
        theirs = service.get_ticket(second, no)
        assert mine is not None and theirs is not None
        first.commit()  # both forms were loaded; nothing is held open while people type
        second.commit()
        service.answer(first, mine, "第一位的答复", POLICE)
        first.commit()
        with pytest.raises(service.Conflict, match="刚被其他人更新"):
            service.start(second, theirs, POLICE)
        second.rollback()
    with makers() as check:
        final = service.get_ticket(check, no)
        assert final is not None and final.answer == "第一位的答复" and final.status == Status.ANSWERED
        assert _kinds(check, final) == ["accepted", "transferred", "answered"]


def test_events_are_append_only(session: Session, engine: Engine, rules: Rules) -> None:
    ticket, _ = _submit(session, rules)
    event = service.history(session, ticket)[0]
    event.note = "changed"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    session.delete(service.history(session, ticket)[0])
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    # Underneath the ORM, the database refuses too (triggers made by the migration).
    for statement in ("UPDATE ticket_events SET note = 'x'", "DELETE FROM ticket_events"):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM ticket_events")).scalar() == 1
        assert connection.execute(text("SELECT note FROM ticket_events")).scalar() is None


def test_ticket_numbers(session: Session, rules: Rules, monkeypatch: pytest.MonkeyPatch) -> None:
    assert re.fullmatch(r"TS20261123-\d{6}", service.new_ticket_no(date(2026, 11, 23)))
    first, _ = _submit(session, rules, key="n1")
    # A drawn number that is taken is drawn again, not an error.
    drawn = iter([first.no, first.no, "TS20260213-000042"])
    monkeypatch.setattr(service, "new_ticket_no", lambda day: next(drawn))
    second, created = _submit(session, rules, key="n2")
    assert created and second.no == "TS20260213-000042"
    assert USER not in second.no


def test_tickets_for_user_newest_first(session: Session, rules: Rules) -> None:
    for i in range(3):
        _submit(session, rules, key=f"k{i}", now=ACCEPTED + timedelta(hours=i))
    _submit(session, rules, key="other", user="other-user")
    tickets = service.tickets_for_user(session, USER)
    assert [t.accepted_at for t in tickets] == [ACCEPTED + timedelta(hours=i) for i in (2, 1, 0)]
    assert len(service.tickets_for_user(session, USER, limit=2)) == 2
    assert service.tickets_for_user(session, "nobody") == []
    with pytest.raises(service.TicketNotFound):
        service.get_for_user(session, tickets[0].no, "other-user")
    assert service.get_ticket(session, "x" * 100) is None
