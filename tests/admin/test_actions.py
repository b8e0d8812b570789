"""Every lifecycle action through the desk's forms, with the errors staff see beside them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.complaints import service
from bot.complaints.models import Status, Ticket, TicketEvent
from bot.complaints.notifications import CitizenNotification
from tests.admin.conftest import HOTLINE, LABOUR, POLICE, Tickets, csrf_of, version_of


def _form(client: TestClient, no: str) -> dict[str, str]:
    """The hidden fields of the ticket page's forms, as a browser would send them."""
    page = client.get(f"/admin/complaints/{no}")
    assert page.status_code == 200, page.text
    return {"csrf": csrf_of(page.text), "version": version_of(page.text)}


def _post(client: TestClient, no: str, action: str, **fields: str | list[str]) -> httpx.Response:
    return client.post(f"/admin/complaints/{no}/{action}", data={**_form(client, no), **fields})


def _events(session: Session, ticket: Ticket) -> list[TicketEvent]:
    session.rollback()  # a new transaction: see what the requests committed
    session.expire_all()
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.seq)))


def _reload(session: Session, ticket: Ticket) -> Ticket:
    session.rollback()  # a new transaction: see what the requests committed
    session.expire_all()
    fresh = session.get(Ticket, ticket.id)
    assert fresh is not None
    return fresh


def test_the_whole_lifecycle_through_the_forms(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    # Accepted and routed to the police by the rules (the text names 派出所), not yet dispatched.
    ticket = tickets.make(text="派出所户籍窗口办户口让跑了好几趟，一次也没说清要啥材料")
    assert ticket.status == Status.ACCEPTED and ticket.departments == [POLICE]
    police = signed_in("police")
    page = police.get(f"/admin/complaints/{ticket.no}").text
    assert 'id="form-transfer"' in page and 'name="departments"' not in page  # staff confirm the routing only
    assert 'id="form-answer"' not in page

    response = _post(police, ticket.no, "transfer", note="确认由本局办理")
    assert response.status_code == 303 and response.headers["location"] == f"/admin/complaints/{ticket.no}?done=transfer"
    assert "已转办" in police.get(response.headers["location"]).text

    assert _post(police, ticket.no, "start").status_code == 303
    assert _reload(session, ticket).status == Status.IN_PROGRESS

    response = _post(police, ticket.no, "answer", answer="已联系户籍窗口，明日上午可直接办理，材料清单已短信发送。")
    assert response.status_code == 303
    fresh = _reload(session, ticket)
    assert fresh.status == Status.ANSWERED and fresh.answered_by == POLICE
    assert "已答复" in police.get(f"/admin/complaints/{ticket.no}?done=answer").text

    assert _post(police, ticket.no, "revisit", note="电话回访，群众表示已办好").status_code == 303
    assert _post(police, ticket.no, "close", note="").status_code == 303
    fresh = _reload(session, ticket)
    assert fresh.status == Status.CLOSED and fresh.closed_at is not None
    events = _events(session, ticket)
    assert [e.kind for e in events] == ["accepted", "transferred", "started", "answered", "revisited", "closed"]
    assert {e.actor for e in events[1:]} == {"police"} and {e.actor_department for e in events[1:]} == {POLICE}
    assert events[1].note == "确认由本局办理" and events[4].note == "电话回访，群众表示已办好"
    page = police.get(f"/admin/complaints/{ticket.no}").text
    assert "没有可做的操作" in page and "police（县公安局）" in page


def test_an_answer_is_escaped_everywhere(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE], text="<b>窗口</b>态度差 & 不给办")
    police = signed_in("police")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert _post(police, ticket.no, "answer", answer=evil).status_code == 303
    page = police.get(f"/admin/complaints/{ticket.no}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;窗口&lt;/b&gt;态度差 &amp; 不给办" in page
    queue = police.get("/admin/complaints").text
    assert "<b>窗口</b>" not in queue and "&lt;b&gt;窗口&lt;/b&gt;" in queue


def test_an_action_the_status_does_not_allow_is_a_clear_409(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE])  # 已转办
    police = signed_in("police")
    response = _post(police, ticket.no, "close")
    assert response.status_code == 409
    assert 'id="conflict"' in response.text
    assert "当前状态为“已转办”，不能办结" in response.text
    assert 'id="form-start"' in response.text  # the page again, with what can be done
    response = _post(police, ticket.no, "revisit", note="想回访")
    assert response.status_code == 409 and "不能回访" in response.text
    assert _reload(session, ticket).event_seq == 2


def test_a_page_left_open_while_someone_else_acted_is_a_409(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE])
    police, colleague = signed_in("police"), signed_in("police")
    stale = _form(police, ticket.no)
    assert _post(colleague, ticket.no, "answer", answer="同事已答复").status_code == 303
    response = police.post(f"/admin/complaints/{ticket.no}/answer", data={**stale, "answer": "我的答复"})
    assert response.status_code == 409
    assert "在您打开页面后已被更新（现在是“已答复”）" in response.text
    assert "我的答复" in response.text  # kept for the member of staff to copy
    assert _reload(session, ticket).answer == "同事已答复"


def test_empty_or_too_long_input_is_shown_beside_the_form(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE])
    police = signed_in("police")
    response = _post(police, ticket.no, "answer", answer="   ")
    assert response.status_code == 422
    assert 'id="error-answer"' in response.text and "答复内容不能为空" in response.text
    response = _post(police, ticket.no, "return", reason="")
    assert response.status_code == 422 and "退回理由不能为空" in response.text
    response = _post(police, ticket.no, "answer", answer="长" * 4001)
    assert response.status_code == 422 and "答复内容不能超过 4000 个字" in response.text
    assert _reload(session, ticket).status == Status.TRANSFERRED


def test_a_department_returns_a_misrouted_ticket_and_loses_it(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE], text="小区门口的路灯坏了一个月没人修")
    police = signed_in("police")
    response = _post(police, ticket.no, "return", reason="路灯维修属城管职责")
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/complaints?done=return&no={ticket.no}"
    assert f"工单 {ticket.no}：已退回" in police.get(response.headers["location"]).text
    fresh = _reload(session, ticket)
    assert POLICE not in fresh.departments and fresh.returned_by == [POLICE]
    assert [e.kind for e in _events(session, ticket)][-2:] == ["returned", "transferred"]
    assert police.get(f"/admin/complaints/{ticket.no}").status_code == 403


def test_admin_chooses_departments_and_staff_cannot(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make(text="派出所户籍窗口办事拖拉")  # 已受理, routed to the police
    police, admin = signed_in("police"), signed_in("admin")
    response = _post(police, ticket.no, "transfer", departments=[LABOUR])
    assert response.status_code == 403 and "只有管理员可以指定承办部门" in response.text
    page = admin.get(f"/admin/complaints/{ticket.no}").text
    assert f'value="{LABOUR}"' in page and 'name="departments"' in page
    response = _post(admin, ticket.no, "transfer", departments=[LABOUR, POLICE], note="联合办理")
    assert response.status_code == 303
    fresh = _reload(session, ticket)
    assert fresh.departments == [LABOUR, POLICE] and fresh.status == Status.TRANSFERRED
    event = _events(session, ticket)[-1]
    assert (event.actor, event.actor_department, event.data["departments"]) == ("admin", HOTLINE, [LABOUR, POLICE])
    response = _post(admin, ticket.no, "transfer", departments=["县宇宙管理局"])
    assert response.status_code == 422 and "部门名录中没有：县宇宙管理局" in response.text
    response = _post(admin, ticket.no, "transfer")
    assert response.status_code == 422 and "请至少选择一个承办部门" in response.text


def test_admin_returns_for_a_chosen_department(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([LABOUR, POLICE], text="欠薪投诉，老板跑路了")
    admin = signed_in("admin")
    assert _post(admin, ticket.no, "return", reason="缺部门").status_code == 422
    assert _post(admin, ticket.no, "return", reason="治安以外的事", department=POLICE).status_code == 303
    fresh = _reload(session, ticket)
    assert fresh.returned_by == [POLICE] and POLICE not in fresh.departments


def test_the_default_department_cannot_return(
    signed_in: Callable[[str], TestClient], tickets: Tickets, add_staff: Callable[..., object]
) -> None:
    ticket = tickets.make([HOTLINE])
    add_staff("hotline", HOTLINE)
    hotline = signed_in("hotline")
    response = _post(hotline, ticket.no, "return", reason="不归我们")
    assert response.status_code == 409 and "兜底分办部门，不能退回" in response.text


def test_forms_without_the_csrf_token_change_nothing(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session
) -> None:
    ticket = tickets.make([POLICE])
    police = signed_in("police")
    version = version_of(police.get(f"/admin/complaints/{ticket.no}").text)
    response = police.post(f"/admin/complaints/{ticket.no}/answer", data={"version": version, "answer": "伪造的答复"})
    assert response.status_code == 403 and "页面已过期或来源不明" in response.text
    response = police.post(
        f"/admin/complaints/{ticket.no}/answer", data={"csrf": "A" * 43, "version": version, "answer": "伪造的答复"}
    )
    assert response.status_code == 403
    assert _reload(session, ticket).answer is None


def test_an_unknown_action_is_404(signed_in: Callable[[str], TestClient], tickets: Tickets) -> None:
    ticket = tickets.make([POLICE])
    police = signed_in("police")
    assert _post(police, ticket.no, "delete").status_code == 404


@pytest.mark.parametrize("action", ["answer"])
def test_answering_records_one_pending_notification(
    signed_in: Callable[[str], TestClient], tickets: Tickets, session: Session, action: str
) -> None:
    ticket = tickets.make([POLICE], user_id="citizen-42")
    police = signed_in("police")
    assert _post(police, ticket.no, action, answer="已办好").status_code == 303
    session.rollback()  # a new transaction: see what the requests committed
    session.expire_all()
    [note] = session.scalars(select(CitizenNotification)).all()
    assert (note.user_id, note.status, note.channel, note.ticket_id) == ("citizen-42", "pending", "web", ticket.id)
    assert note.text == "已办好"  # the answer as it was; the wording is applied on delivery
    assert note.event_seq == _reload(session, ticket).event_seq
    assert service.get_ticket(session, ticket.no) is not None
