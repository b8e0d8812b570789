"""The queue and who sees what: department scope, 403 across departments, ordering, highlighting,
masked phones in the list and full ones on the detail page, paging, the status filter."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.complaints import service
from bot.complaints.calendar import add_working_days
from bot.complaints.models import Status, Ticket
from tests.admin.conftest import LABOUR, POLICE, Clock, Tickets, bj, csrf_of, version_of

_ROW = re.compile(r'<tr class="row ([\w-]*)" data-no="([^"]+)" data-urgency="([\w-]*)">')


def _rows(html: str) -> list[tuple[str, str]]:
    """(ticket no, urgency) of the queue's rows, in order."""
    return [(no, urgency) for _, no, urgency in _ROW.findall(html)]


def _set_deadline(session: Session, ticket: Ticket, deadline: date, status: str | None = None) -> None:
    values: dict[str, object] = {"deadline": deadline}
    if status:
        values["status"] = status
    session.execute(update(Ticket).where(Ticket.id == ticket.id).values(**values))
    session.commit()


def test_staff_see_their_departments_tickets_and_admins_all(
    signed_in: Callable[[str], TestClient], tickets: Tickets
) -> None:
    police_only = tickets.make([POLICE])
    labour_only = tickets.make([LABOUR])
    joint = tickets.make([LABOUR, POLICE])  # joint department: the police see it too
    police = signed_in("police")
    listed = {row["no"] for row in police.get("/admin/api/complaints").json()["tickets"]}
    assert listed == {police_only.no, joint.no}
    page = police.get("/admin/complaints")
    assert police_only.no in page.text and joint.no in page.text and labour_only.no not in page.text
    admin = signed_in("admin")
    assert {row["no"] for row in admin.get("/admin/api/complaints").json()["tickets"]} == {
        police_only.no, labour_only.no, joint.no,
    }
    assert admin.get(f"/admin/complaints/{labour_only.no}").status_code == 200
    assert admin.get(f"/admin/api/complaints/{police_only.no}").status_code == 200


def test_another_departments_ticket_is_403_on_page_api_and_actions(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    labour_ticket = tickets.make([LABOUR])
    police = signed_in("police")
    page = police.get(f"/admin/complaints/{labour_ticket.no}")
    assert page.status_code == 403
    assert "无权查看" in page.text and labour_ticket.text not in page.text
    api = police.get(f"/admin/api/complaints/{labour_ticket.no}")
    assert api.status_code == 403 and "无权查看" in api.json()["detail"]
    token = csrf_of(police.get("/admin/complaints").text)
    for action, data in [("start", {}), ("answer", {"answer": "已处理"}), ("return", {"reason": "不归我们管"}),
                         ("transfer", {}), ("revisit", {}), ("close", {})]:
        response = police.post(f"/admin/complaints/{labour_ticket.no}/{action}", data={"csrf": token, **data})
        assert response.status_code == 403, action
        assert "无权处理" in response.text
    session.refresh(labour_ticket)
    assert labour_ticket.status == Status.TRANSFERRED and labour_ticket.event_seq == 2  # nothing happened


def test_unknown_ticket_is_404(signed_in: Callable[[str], TestClient]) -> None:
    police = signed_in("police")
    assert police.get("/admin/complaints/TS20990101-000000").status_code == 404
    assert police.get("/admin/api/complaints/TS20990101-000000").status_code == 404
    assert police.get("/admin/complaints/" + "x" * 300).status_code == 404


def test_queue_is_sorted_by_deadline_with_overdue_red_and_nearly_due_amber(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session, clock: Clock
) -> None:
    clock.now = bj(2026, 11, 20, 10)  # a Friday: the next working day is Monday 11-23
    today = date(2026, 11, 20)
    later = tickets.make([POLICE])
    due_monday = tickets.make([POLICE])
    due_saturday = tickets.make([POLICE])  # not a working day, but before the next one: nearly due
    overdue = tickets.make([POLICE])
    due_today = tickets.make([POLICE])
    answered_late = tickets.make([POLICE])  # answered: nothing waits for the department, no colour
    closed = tickets.make([POLICE])
    _set_deadline(session, later, date(2026, 11, 24))
    _set_deadline(session, due_monday, date(2026, 11, 23))
    _set_deadline(session, due_saturday, date(2026, 11, 21))
    _set_deadline(session, overdue, today - timedelta(days=2))
    _set_deadline(session, due_today, today)
    _set_deadline(session, answered_late, today - timedelta(days=5), Status.ANSWERED)
    _set_deadline(session, closed, today - timedelta(days=9), Status.CLOSED)
    assert add_working_days(today, 1) == date(2026, 11, 23)

    police = signed_in("police")
    page = police.get("/admin/complaints")
    assert _rows(page.text) == [
        (answered_late.no, ""), (overdue.no, "overdue"), (due_today.no, "due-soon"), (due_saturday.no, "due-soon"),
        (due_monday.no, "due-soon"), (later.no, ""),
    ]  # 未办结 by default: the closed one is not listed
    assert "已超期 1" in page.text and "1个工作日内到期 3" in page.text
    everything = police.get("/admin/complaints?status=all")
    assert _rows(everything.text)[0] == (closed.no, "")
    only_answered = police.get("/admin/api/complaints?status=answered").json()
    assert [(t["no"], t["urgency"]) for t in only_answered["tickets"]] == [(answered_late.no, None)]
    api = police.get("/admin/api/complaints").json()
    assert [t["urgency"] for t in api["tickets"]] == [None, "overdue", "due-soon", "due-soon", "due-soon", None]
    assert (api["overdue"], api["due_soon"]) == (1, 3)


def test_phones_are_masked_in_the_list_and_full_on_the_detail_page(
    signed_in: Callable[[str], TestClient], tickets: Tickets
) -> None:
    ticket = tickets.make([POLICE], phone="+8613812345678")
    landline = tickets.make([POLICE], phone="+863735551234")
    police = signed_in("police")
    queue = police.get("/admin/complaints").text
    assert "138****5678" in queue and "13812345678" not in queue
    assert "0373-****34" in queue and "5551234" not in queue
    assert police.get("/admin/api/complaints").json()["tickets"][0]["phone"] in ("138****5678", "0373-****34")
    detail = police.get(f"/admin/complaints/{ticket.no}").text
    assert 'href="tel:13812345678"' in detail
    assert police.get(f"/admin/api/complaints/{landline.no}").json()["phone"] == "0373-5551234"
    assert "citizen-1" not in detail  # the citizen's id is masked


def test_paging(signed_in: Callable[[str], TestClient], tickets: Tickets) -> None:
    made = [tickets.make([POLICE]) for _ in range(23)]
    police = signed_in("police")
    first = police.get("/admin/api/complaints").json()
    assert (first["total"], first["page"], first["pages"], len(first["tickets"])) == (23, 1, 2, 20)
    second = police.get("/admin/api/complaints?page=2").json()
    assert len(second["tickets"]) == 3
    assert {t["no"] for t in first["tickets"] + second["tickets"]} == {t.no for t in made}
    assert police.get("/admin/api/complaints?page=99").json()["page"] == 2  # past the end: the last page
    assert police.get("/admin/api/complaints?page=abc").json()["page"] == 1
    page = police.get("/admin/complaints?page=2").text
    assert "第 2 / 2 页" in page and 'rel="prev"' in page and 'rel="next"' not in page


def test_the_detail_page_shows_every_field_and_the_history(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE], text="派出所办户口跑了三趟，窗口说材料不全又不一次说清")
    service.escalate_overdue(session, bj(2026, 12, 30))
    session.commit()
    police = signed_in("police")
    page = police.get(f"/admin/complaints/{ticket.no}").text
    for expected in ("派出所办户口跑了三趟", "县公安局", "已转办", "办理时限", "网页对话", "受理", "转办", "督办",
                     "系统（督办）", "seed-admin（县12345热线工作专班）"):
        assert expected in page, expected
    assert len(re.findall(r'<tr data-seq="\d+">', page)) == 3  # 受理, 转办, 督办
    detail = police.get(f"/admin/api/complaints/{ticket.no}").json()
    assert [e["kind"] for e in detail["events"]] == ["accepted", "transferred", "escalated"]
    assert detail["escalations"] == 1 and detail["version"] == int(version_of(page))


@pytest.mark.parametrize("status", ["", "bogus"])
def test_an_unknown_filter_is_the_default(signed_in: Callable[[str], TestClient], status: str) -> None:
    assert signed_in("police").get(f"/admin/api/complaints?status={status}").json()["status"] == "open"
