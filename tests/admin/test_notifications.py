"""Telling the citizen about an answer: a pending notification per answer, shown once in the chat."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.channels.rasa import RasaClient
from bot.complaints import notifications, service
from bot.complaints.models import RATINGS, Ticket
from bot.complaints.notifications import CitizenNotification, deliver_pending, mark_delivered, pending_notifications
from bot.guides.dialogue import payload
from tests.admin.conftest import POLICE, Tickets, bj

STAFF = service.Actor("staff", "police", POLICE)
REPLY = [{"text": "您好，请问还有什么可以帮您？"}]


@pytest.fixture
def rasa(app: FastAPI) -> Iterator[list[dict[str, Any]]]:
    """A stand-in Rasa answering every message with REPLY; the list collects what it was sent."""
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=REPLY)

    original = getattr(app.state, "rasa", None)
    app.state.rasa = RasaClient("http://rasa.test", client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    yield sent
    app.state.rasa = original


def _chat(client: TestClient, user_id: str, text: str = "你好") -> list[dict[str, Any]]:
    response = client.post("/api/v1/chat", json={"user_id": user_id, "text": text})
    assert response.status_code == 200, response.text
    return [{k: v for k, v in m.items() if v is not None} for m in response.json()["messages"]]


def _answered(tickets: Tickets, session: Session, user_id: str, answer: str, **kw: Any) -> Ticket:
    ticket = tickets.make([POLICE], user_id=user_id, **kw)
    service.answer(session, ticket, answer, STAFF)
    session.commit()
    return ticket


def test_the_next_chat_reply_starts_with_the_answer_once(
    client: TestClient, rasa: list[dict[str, Any]], tickets: Tickets, session: Session
) -> None:
    ticket = _answered(tickets, session, "web-user-1", "已协调窗口，明天上午可直接办理")
    first = _chat(client, "web-user-1")
    assert (first[0]["type"], first[0]["text"]) == (
        "choices", f"您的投诉 {ticket.no} 已有答复：已协调窗口，明天上午可直接办理\n请对处理结果评价：",
    )
    assert [(c["title"], c["payload"]) for c in first[0]["choices"]] == [  # the 好差评 buttons
        (rating, payload("rate_ticket", ticket_no=ticket.no, rating=rating)) for rating in RATINGS
    ]
    assert first[1:] == [{"type": "text", "text": REPLY[0]["text"]}]
    assert rasa[0]["message"] == "你好"  # the conversation itself goes on as usual
    second = _chat(client, "web-user-1")
    assert second == [{"type": "text", "text": REPLY[0]["text"]}]  # once only
    assert _chat(client, "someone-else") == second  # and only to its owner
    session.rollback()
    [note] = session.scalars(select(CitizenNotification)).all()
    assert (note.status, note.delivered_via) == ("delivered", "web")
    assert note.delivered_at is not None


def test_several_answers_come_oldest_first(
    client: TestClient, rasa: list[dict[str, Any]], tickets: Tickets, session: Session
) -> None:
    first = _answered(tickets, session, "web-user-2", "第一件已办好")
    second = _answered(tickets, session, "web-user-2", "第二件已办好")
    messages = _chat(client, "web-user-2")
    assert [m["text"].split(" ")[1] for m in messages[:2]] == [first.no, second.no]
    assert len(messages) == 3


def test_a_new_answer_replaces_one_not_yet_delivered(tickets: Tickets, session: Session, engine: Engine) -> None:
    ticket = _answered(tickets, session, "web-user-3", "第一次答复")
    service.rate(session, ticket, "不满意", "web-user-3")  # reopened ... and answered again
    service.answer(session, ticket, "第二次答复", STAFF)
    session.commit()
    notices = deliver_pending(engine, "web-user-3", "web")
    assert [(n.ticket_no, n.answer) for n in notices] == [(ticket.no, "第二次答复")]
    session.rollback()
    statuses = sorted(n.status for n in session.scalars(select(CitizenNotification)))
    assert statuses == ["delivered", "superseded"]


def test_wechat_tickets_wait_for_the_wechat_push(
    client: TestClient, rasa: list[dict[str, Any]], tickets: Tickets, session: Session
) -> None:
    _answered(tickets, session, "oWeChatOpenId123", "已办好", channel="wechat")
    assert len(_chat(client, "oWeChatOpenId123")) == 1  # not delivered through the web chat
    assert [n.channel for n in pending_notifications(session, "oWeChatOpenId123")] == ["wechat"]
    assert pending_notifications(session, "oWeChatOpenId123", notifications.CHAT_CHANNELS) == []


def test_mark_delivered_claims_each_notification_once(tickets: Tickets, session: Session) -> None:
    _answered(tickets, session, "web-user-4", "已办好")
    [note] = pending_notifications(session, "web-user-4")
    assert mark_delivered(session, [note.id], "web", bj(2026, 11, 23)) == [note.id]
    assert mark_delivered(session, [note.id], "mp") == []  # a concurrent turn got it first
    session.commit()
    assert pending_notifications(session, "web-user-4") == []


def test_when_rasa_is_down_nothing_is_marked_delivered(
    app: FastAPI, client: TestClient, tickets: Tickets, session: Session
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    original = getattr(app.state, "rasa", None)
    app.state.rasa = RasaClient("http://rasa.test", client=httpx.AsyncClient(transport=httpx.MockTransport(down)))
    try:
        _answered(tickets, session, "web-user-5", "已办好")
        assert client.post("/api/v1/chat", json={"user_id": "web-user-5", "text": "你好"}).status_code == 503
    finally:
        app.state.rasa = original
    session.rollback()
    assert len(pending_notifications(session, "web-user-5")) == 1


def test_a_database_problem_does_not_break_the_chat(
    app: FastAPI, client: TestClient, rasa: list[dict[str, Any]], new_engine: Callable[[], Engine]
) -> None:
    app.state.engine = new_engine()  # a database without the tables
    assert _chat(client, "web-user-6") == [{"type": "text", "text": REPLY[0]["text"]}]


@pytest.fixture
def new_engine(tmp_path: Any) -> Iterator[Callable[[], Engine]]:
    from bot.store.db import make_engine

    engines: list[Engine] = []

    def make() -> Engine:
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def test_two_turns_at_once_deliver_an_answer_once(tickets: Tickets, session: Session, engine: Engine) -> None:
    for round_ in range(5):
        user = f"web-race-{round_}"
        _answered(tickets, session, user, f"第{round_}件已办好")
        barrier = threading.Barrier(2)
        results: list[list[str]] = []

        def turn(user: str = user, barrier: threading.Barrier = barrier, results: list[list[str]] = results) -> None:
            barrier.wait()
            results.append(deliver_pending(engine, user, "web"))

        threads = [threading.Thread(target=turn) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(len(r) for r in results) == [0, 1], results
