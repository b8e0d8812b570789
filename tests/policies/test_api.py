"""The binding and policy APIs the actions call, end to end on one database: an enterprise user
binds (with the verification code), lists the matched policies with reasons, opens one, confirms
the claim; staff record 兑现; the push side's functions notify each bound user exactly once."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.policies import service
from bot.policies.catalog import PolicyCatalog
from bot.policies.matching import run_matching
from bot.policies.models import PolicyMatchEvent
from tests.policies.conftest import TODAY
from tests.policies.helpers import add

USER = "o_wx_enterprise_1"


def _bind(client: TestClient, app: FastAPI, user: str, code: str) -> dict:
    started = client.post("/api/v1/enterprise/bindings", json={"user_id": user, "channel": "wechat", "uscc": code})
    assert started.status_code == 201, started.text
    sent = app.state.enterprise_verifier.outbox[-1]
    assert sent[:2] == (code, user)
    done = client.post("/api/v1/enterprise/bindings/verify",
                       json={"user_id": user, "challenge_id": started.json()["challenge_id"], "code": sent[2]})
    assert done.status_code == 201, done.text
    return done.json()["binding"]


def test_unbound_user_is_offered_binding(client: TestClient) -> None:
    answer = client.get("/api/v1/policies/mine", params={"user_id": USER})
    assert answer.status_code == 200
    assert answer.json() == {"bound": False, "enterprises": [], "message": {"type": "policies", "policies": []},
                             "near_misses": []}


def test_binding_checks(client: TestClient, app: FastAPI, engine: Engine) -> None:
    code = add(engine, 1, "河南稳岗达标有限公司")
    wrong_digit = code[:17] + ("X" if code[17] != "X" else "Y")
    bad = client.post("/api/v1/enterprise/bindings", json={"user_id": USER, "uscc": wrong_digit})
    assert bad.status_code == 422 and "校验位" in bad.json()["detail"]
    unknown = client.post("/api/v1/enterprise/bindings", json={"user_id": USER, "uscc": "91440300708461136T"})
    assert unknown.status_code == 404
    started = client.post("/api/v1/enterprise/bindings", json={"user_id": USER, "uscc": code.lower()}).json()
    assert "138****8000" in started["hint"]  # the registered phone, masked
    for left in (4, 3):
        wrong = client.post("/api/v1/enterprise/bindings/verify",
                            json={"user_id": USER, "challenge_id": started["challenge_id"], "code": "000000x"})
        assert wrong.status_code == 422 and f"还可以再试 {left} 次" in wrong.json()["detail"]
    other = client.post("/api/v1/enterprise/bindings/verify",
                        json={"user_id": "someone_else", "challenge_id": started["challenge_id"], "code": "1"})
    assert other.status_code == 404
    binding = _bind(client, app, USER, code)
    assert binding["uscc"] == code and binding["verified_by"] == "test"
    again = client.post("/api/v1/enterprise/bindings", json={"user_id": USER, "uscc": code})
    assert again.status_code == 409
    _bind(client, app, "o_wx_accountant", code)  # a company may have several bound users
    listed = client.get("/api/v1/enterprise/bindings", params={"user_id": USER}).json()["bindings"]
    assert [b["uscc"] for b in listed] == [code]
    assert client.post(f"/api/v1/enterprise/bindings/{code}/unbind", json={"user_id": USER}).status_code == 200
    assert client.get("/api/v1/enterprise/bindings", params={"user_id": USER}).json()["bindings"] == []
    assert client.post(f"/api/v1/enterprise/bindings/{code}/unbind", json={"user_id": USER}).status_code == 404
    _bind(client, app, USER, code)  # and bind again


def test_policies_detail_confirm_decline_and_paid(
    client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog,
) -> None:
    code = add(engine, 1, "河南稳岗达标有限公司")
    run_matching(engine, catalog, TODAY, "test")
    _bind(client, app, USER, code)
    mine = client.get("/api/v1/policies/mine", params={"user_id": USER}).json()
    assert mine["bound"] and mine["enterprises"] == [{"uscc": code, "name": "河南稳岗达标有限公司"}]
    policies = {p["id"]: p for p in mine["message"]["policies"]}
    assert {"wengang_fanhuan", "yicixing_kuogang", "chuangye_danbao_daikuan"} <= set(policies)
    wg = policies["wengang_fanhuan"]
    assert {"id", "title", "kind", "why", "status"} <= set(wg)
    assert wg["kind"] == "condition" and wg["status"] == "matched"
    assert wg["why"][0] == "足额缴纳失业保险满12个月（贵企业：26个月）"

    detail = client.get(f"/api/v1/policies/matches/{wg['match_id']}", params={"user_id": USER}).json()
    assert detail["benefit"]["applies"] == ["中小微企业按上年度实际缴纳失业保险费的 60% 返还"]
    assert detail["actions"] == {"confirm": True, "decline": True}
    assert {d["field"] for d in detail["data"]} >= {"ui_paid_months", "layoff_rate"}
    manual = client.get(f"/api/v1/policies/matches/{policies['chuangye_danbao_daikuan']['match_id']}",
                        params={"user_id": USER}).json()
    assert manual["kind"] == "manual" and manual["apply"]["materials"] and manual["apply"]["where"]
    assert manual["actions"]["confirm"] is False
    refused = client.post(f"/api/v1/policies/matches/{manual['match_id']}/confirm", json={"user_id": USER})
    assert refused.status_code == 409 and "简易申报" in refused.json()["detail"]

    stranger = client.get(f"/api/v1/policies/matches/{wg['match_id']}", params={"user_id": "o_other"})
    assert stranger.status_code == 404
    assert client.post(f"/api/v1/policies/matches/{wg['match_id']}/confirm", json={"user_id": "o_other"}).status_code == 404

    confirmed = client.post(f"/api/v1/policies/matches/{wg['match_id']}/confirm", json={"user_id": USER})
    assert confirmed.status_code == 200 and confirmed.json()["changed"] is True
    assert confirmed.json()["policy"]["status"] == "confirmed"
    repeat = client.post(f"/api/v1/policies/matches/{wg['match_id']}/confirm", json={"user_id": USER})
    assert repeat.json()["changed"] is False

    kuogang = policies["yicixing_kuogang"]["match_id"]
    declined = client.post(f"/api/v1/policies/matches/{kuogang}/decline", json={"user_id": USER, "reason": "未招用高校毕业生"})
    assert declined.json()["policy"]["status"] == "declined"

    with Session(engine) as session:
        try:
            service.mark_paid(session, kuogang, "staff1")
            raise AssertionError("a declined claim cannot be paid")
        except service.PolicyError as exc:
            assert exc.status_code == 409
        service.mark_paid(session, wg["match_id"], "staff1", "已拨付")
        session.commit()
        events = session.execute(
            select(PolicyMatchEvent.to_status, PolicyMatchEvent.actor_type, PolicyMatchEvent.actor)
            .where(PolicyMatchEvent.match_id == wg["match_id"]).order_by(PolicyMatchEvent.id)
        ).all()
    assert [tuple(e) for e in events][1:] == [("confirmed", "enterprise", USER), ("paid", "staff", "staff1")]
    paid = client.post(f"/api/v1/policies/matches/{wg['match_id']}/decline", json={"user_id": USER})
    assert paid.status_code == 409


def test_staff_paid_endpoint_needs_a_session(client: TestClient) -> None:
    answer = client.post("/admin/api/policies/matches/1/paid", json={})
    assert answer.status_code == 401 and answer.json()["detail"]


def test_validation_errors_are_chinese_4xx(client: TestClient) -> None:
    assert client.get("/api/v1/policies/mine").status_code == 422
    body = client.post("/api/v1/enterprise/bindings", json={"user_id": "", "uscc": "x"})
    assert body.status_code == 422 and "user_id" in body.json()["detail"]
    assert client.post("/api/v1/policies/matches/abc/confirm", json={"user_id": USER}).status_code == 422
    assert client.post("/api/v1/policies/matches/999/confirm", json={"user_id": USER}).status_code == 404


def test_push_side_notifies_each_bound_user_once(
    client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog,
) -> None:
    code = add(engine, 1, "河南稳岗达标有限公司")
    add(engine, 2, "河南未绑定有限公司")
    run_matching(engine, catalog, TODAY, "test")
    _bind(client, app, USER, code)
    with Session(engine) as session:
        pending = service.pending_notifications(session, catalog, TODAY)
        assert pending and {p.uscc for p in pending} == {code} and {p.user_id for p in pending} == {USER}
        wg = next(p for p in pending if p.policy_id == "wengang_fanhuan")
        assert wg.why[0].startswith("足额缴纳失业保险满12个月")
        assert service.mark_notified(session, wg.match_id, USER, "wechat") is True
        assert service.mark_notified(session, wg.match_id, USER, "wechat") is False  # idempotent
        session.commit()
        assert wg.match_id not in {p.match_id for p in service.pending_notifications(session, catalog, TODAY)}
    _bind(client, app, "o_wx_second", code)  # bound later: told too, once
    with Session(engine) as session:
        later = [p for p in service.pending_notifications(session, catalog, TODAY) if p.match_id == wg.match_id]
        assert [p.user_id for p in later] == ["o_wx_second"]
        assert service.mark_notified(session, wg.match_id, "o_wx_second", "mp") is True
        session.commit()
        statuses = session.execute(
            select(PolicyMatchEvent.to_status).where(PolicyMatchEvent.match_id == wg.match_id).order_by(PolicyMatchEvent.id)
        ).scalars().all()
    assert statuses == ["matched", "notified"]  # notified once, however many users were told
    mine = client.get("/api/v1/policies/mine", params={"user_id": USER}).json()
    assert next(p for p in mine["message"]["policies"] if p["id"] == "wengang_fanhuan")["status"] == "notified"
    run_matching(engine, catalog, TODAY, "test")  # a re-run brings nothing new to notify
    with Session(engine) as session:
        assert wg.match_id not in {p.match_id for p in service.pending_notifications(session, catalog, TODAY)
                                   if p.user_id in (USER, "o_wx_second")}
