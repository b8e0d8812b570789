"""/api/v1/complaints through the real app (its routers and Chinese error handling), on both databases."""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.channels.messages import TicketMessage
from bot.complaints import service
from bot.complaints.models import Ticket
from bot.complaints.rules import Rules
from bot.complaints.service import Actor
from bot.guides.catalog import Catalog
from bot.store.db import make_engine, make_sessionmaker

URL = "/api/v1/complaints"
USER = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
POLICE = Actor("staff", "zhang.police", "县公安局")
ADMIN = Actor("staff", "root", "县行政审批和政务信息管理局", admin=True)


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": USER, "channel": "wechat", "idempotency_key": "msg-1", "text": "户口迁移办了一个月还没办好，派出所一直拖着",
        "subject": None, "guide_id": None, "place": "七里营镇", "phone": "138 1234 5678",
    }
    body.update(changes)
    return body


def _post(client: TestClient, **changes: Any) -> Any:
    return client.post(URL, json=_body(**changes))


def _ticket(engine: Engine, no: str) -> tuple[Session, Ticket]:
    session = make_sessionmaker(engine)()
    ticket = service.get_ticket(session, no)
    assert ticket is not None
    return session, ticket


def test_create(client: TestClient, engine: Engine) -> None:
    response = _post(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"ticket", "message"}
    ticket = body["ticket"]
    assert set(ticket) == {"no", "status", "category", "departments", "deadline", "accepted_at"}
    assert re.fullmatch(r"TS\d{8}-\d{6}", ticket["no"])
    assert ticket["status"] == "已受理"
    assert ticket["category"] == "投诉"
    assert ticket["departments"] == ["县公安局"]
    assert date.fromisoformat(ticket["deadline"]) > date.fromisoformat(ticket["accepted_at"][:10])
    # The channel message, exactly as DESIGN.md has it.
    assert body["message"] == {
        "type": "ticket",
        "ticket": {k: ticket[k] for k in ("no", "status", "category", "departments", "deadline")},
    }
    TicketMessage.model_validate(body["message"])
    # Stored before the answer was sent, with the phone normalized.
    with make_sessionmaker(engine)() as session:
        stored = service.get_ticket(session, ticket["no"])
        assert stored is not None and stored.phone == "+8613812345678" and stored.place == "七里营镇"
        assert stored.channel == "wechat" and stored.idempotency_key == "msg-1"


def test_the_message_names_the_guide(client: TestClient) -> None:
    body = _post(client, guide_id="newborn", text="宝宝的户口一直办不下来").json()
    assert body["message"]["guide"] == {"id": "newborn", "title": "新生儿出生一件事"}
    assert body["ticket"]["departments"] == ["县卫健委", "县公安局"]


def test_same_key_gives_the_same_ticket_with_200(client: TestClient, engine: Engine) -> None:
    first = _post(client)
    second = _post(client)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    conflict = _post(client, text="另一件事：停电两天了")
    assert conflict.status_code == 409
    assert "提交编号" in conflict.json()["detail"]
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_concurrent_double_submission_through_the_api(client: TestClient, engine: Engine) -> None:
    barrier = threading.Barrier(2)
    responses: list[Any] = []

    def send() -> None:
        barrier.wait(timeout=10)
        responses.append(_post(client, idempotency_key="double"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    assert responses[0].json()["ticket"]["no"] == responses[1].json()["ticket"]["no"]
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"phone": "12345"}, "联系电话格式不对"),
        ({"phone": "1381234567"}, "联系电话格式不对"),  # ten digits
        ({"phone": "+1 650 253 0000"}, "联系电话格式不对"),  # not a mainland number
        ({"phone": "400-800-1234"}, "联系电话格式不对"),  # a service number, not a person's
        ({"phone": 13812345678}, "联系电话应为文字"),
        ({"text": "   "}, "诉求内容不能为空"),
        ({"text": "字" * 2001}, "诉求内容不能超过 2000 个字"),
        ({"channel": "sms"}, "channel（渠道）只能是 web、wechat、mp"),
        ({"idempotency_key": ""}, "idempotency_key（提交编号）应为 1–128 个字符"),
        ({"idempotency_key": "k" * 129}, "idempotency_key（提交编号）应为 1–128 个字符"),
        ({"user_id": ""}, "user_id（用户标识）不能为空"),
        ({"subject": "事" * 201}, "所涉事项或部门不能超过 200 个字"),
    ],
)
def test_invalid_input_is_422_in_chinese(client: TestClient, changes: dict[str, Any], detail: str) -> None:
    response = _post(client, **changes)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]


def test_missing_fields_and_bad_json(client: TestClient) -> None:
    body = _body()
    del body["idempotency_key"]
    response = client.post(URL, json=body)
    assert response.status_code == 422 and "缺少 idempotency_key" in response.json()["detail"]
    response = client.post(URL, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"] == "请求体不是有效的 JSON"


@pytest.mark.parametrize(
    ("phone", "stored", "shown"),
    [
        (None, None, None),  # the user declined
        ("", None, None),
        ("13812345678", "+8613812345678", "138****5678"),
        ("+86 139-1234-5678", "+8613912345678", "139****5678"),
        ("０３７３－５５５１２３４", "+863735551234", "0373-****34"),  # full-width, as typed on a phone
        ("(0373)5551234", "+863735551234", "0373-****34"),
        ("010-12345678", "+861012345678", "010-****78"),
    ],
)
def test_phones(client: TestClient, engine: Engine, phone: str | None, stored: str | None, shown: str | None) -> None:
    no = _post(client, phone=phone).json()["ticket"]["no"]
    with make_sessionmaker(engine)() as session:
        ticket = service.get_ticket(session, no)
        assert ticket is not None and ticket.phone == stored
    [listed] = client.get(URL, params={"user_id": USER}).json()["tickets"]
    assert listed["phone"] == shown


def test_list_masks_the_phone_and_logs_never_show_it(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        _post(client, phone="13812345678")
        response = client.get(URL, params={"user_id": USER})
    assert "13812345678" not in response.text and "138****5678" in response.text
    # The server's logs (the test client's own httpx log shows the URL it requested; the bot runs
    # uvicorn with --no-access-log, so no query string is logged in production).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "ticket TS" in logged
    assert "13812345678" not in logged and "+8613812345678" not in logged
    assert USER not in logged


def test_list(client: TestClient, engine: Engine) -> None:
    empty = client.get(URL, params={"user_id": USER})
    assert empty.status_code == 200 and empty.json() == {"tickets": []}
    first = _post(client, idempotency_key="a").json()["ticket"]["no"]
    second = _post(client, idempotency_key="b", text="停电两天了").json()["ticket"]["no"]
    _post(client, idempotency_key="c", user_id="someone-else")
    tickets = client.get(URL, params={"user_id": USER}).json()["tickets"]
    assert [t["no"] for t in tickets] == [second, first]  # newest first, only this user's
    contract = {"no", "status", "category", "departments", "deadline", "answer", "answered_at", "rating", "can_rate"}
    assert set(tickets[0]) >= contract
    assert tickets[0]["answer"] is None and tickets[0]["answered_at"] is None
    assert tickets[0]["rating"] is None and tickets[0]["can_rate"] is False
    assert len(client.get(URL, params={"user_id": USER, "limit": 1}).json()["tickets"]) == 1
    missing = client.get(URL)
    assert missing.status_code == 422 and "user_id" in missing.json()["detail"]


def test_whole_lifecycle_through_the_api(client: TestClient, engine: Engine, rules: Rules, catalog: Catalog) -> None:
    """Citizen through the API, staff through the service (the desk comes later): 受理 to 办结, with 退回,
    督办 and 重新办理 on the way."""
    created = _post(client, guide_id="newborn", text="宝宝的户口一直办不下来，派出所说要卫健委先出证明").json()["ticket"]
    no = created["no"]
    assert created["departments"] == ["县卫健委", "县公安局"]

    session, ticket = _ticket(engine, no)
    with session:
        service.transfer(session, ticket, ADMIN)
        service.return_ticket(session, ticket, "出生医学证明已签发，户口登记由公安办理", Actor("staff", "wu", "县卫健委"),
                              rules=rules, catalog=catalog)
        session.commit()
        assert ticket.departments == ["县公安局"]
        # Overdue: the sweep escalates it (督办), once.
        later = datetime.combine(ticket.deadline + timedelta(days=2), datetime.min.time(), UTC)
        assert [t.no for t in service.escalate_overdue(session, later)] == [no]
        session.commit()
        service.start(session, ticket, POLICE)
        session.commit()

    follow = client.get(URL, params={"user_id": USER}).json()["tickets"][0]
    assert (follow["status"], follow["departments"], follow["can_rate"]) == ("办理中", ["县公安局"], False)
    early = client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "满意"})
    assert early.status_code == 409 and "还没有答复" in early.json()["detail"]

    session, ticket = _ticket(engine, no)
    with session:
        service.answer(session, ticket, "已为宝宝办理出生登记，户口簿可到七里营派出所领取。", POLICE)
        session.commit()
    follow = client.get(URL, params={"user_id": USER}).json()["tickets"][0]
    assert follow["status"] == "已答复" and follow["answer"].startswith("已为宝宝办理出生登记")
    assert follow["answered_at"] and follow["can_rate"] is True

    unhappy = client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "不满意"})
    assert unhappy.status_code == 200, unhappy.text
    assert unhappy.json()["status"] == "办理中" and unhappy.json()["rating"] == "不满意"
    assert unhappy.json()["can_rate"] is False

    session, ticket = _ticket(engine, no)
    with session:
        service.answer(session, ticket, "已上门送达户口簿。", POLICE)
        session.commit()
    happy = client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "非常满意"})
    assert happy.status_code == 200 and happy.json()["status"] == "已答复" and happy.json()["rating"] == "非常满意"
    twice = client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "满意"})
    assert twice.status_code == 409 and "已经评价过" in twice.json()["detail"]

    session, ticket = _ticket(engine, no)
    with session:
        service.revisit(session, ticket, POLICE, "电话回访：已收到户口簿")
        service.close(session, ticket, POLICE)
        session.commit()
        kinds = [e.kind for e in service.history(session, ticket)]
    assert kinds == [
        "accepted", "transferred", "returned", "transferred", "escalated", "started", "answered", "rated", "reopened",
        "answered", "rated", "revisited", "closed",
    ]
    final = client.get(URL, params={"user_id": USER}).json()["tickets"][0]
    assert final["status"] == "已办结" and final["rating"] == "非常满意"


def test_rating_errors(client: TestClient, engine: Engine) -> None:
    no = _post(client).json()["ticket"]["no"]
    session, ticket = _ticket(engine, no)
    with session:
        service.transfer(session, ticket, ADMIN)
        service.answer(session, ticket, "已办。", POLICE)
        session.commit()
    others = client.post(f"{URL}/{no}/rating", json={"user_id": "someone-else", "rating": "满意"})
    assert others.status_code == 404 and others.json()["detail"] == "没有找到这个工单"
    unknown = client.post(f"{URL}/TS20260101-000000/rating", json={"user_id": USER, "rating": "满意"})
    assert unknown.status_code == 404
    bad = client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "还行"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "评价只能是：非常满意、满意、基本满意、不满意、非常不满意"
    ok = client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "基本满意"})
    assert ok.status_code == 200 and ok.json()["status"] == "已答复" and ok.json()["can_rate"] is False


def test_database_trouble_is_503_not_500(client: TestClient, app: Any, tmp_path: Any) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables: every statement fails
    app.state.engine = broken
    try:
        created = _post(client)
        listed = client.get(URL, params={"user_id": USER})
        rated = client.post(f"{URL}/TS20260101-000000/rating", json={"user_id": USER, "rating": "满意"})
    finally:
        broken.dispose()
    assert (created.status_code, listed.status_code, rated.status_code) == (503, 503, 503)
    assert created.json()["detail"] == "系统繁忙，诉求暂未保存，请稍后再试"


def test_double_tapped_rating_is_counted_once(client: TestClient, engine: Engine) -> None:
    no = _post(client).json()["ticket"]["no"]
    session, ticket = _ticket(engine, no)
    with session:
        service.transfer(session, ticket, ADMIN)
        service.answer(session, ticket, "已办。", POLICE)
        session.commit()
    barrier = threading.Barrier(2)
    responses: list[Any] = []

    def rate() -> None:
        barrier.wait(timeout=10)
        responses.append(client.post(f"{URL}/{no}/rating", json={"user_id": USER, "rating": "不满意"}))

    threads = [threading.Thread(target=rate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    session, ticket = _ticket(engine, no)
    with session:
        assert ticket.reopen_count == 1
        assert [e.kind for e in service.history(session, ticket)].count("rated") == 1
