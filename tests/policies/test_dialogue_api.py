"""/api/v1/dialogue/policies/* through the real app, on both databases: what the policy actions call.

Binding as the form drives it (the 统一社会信用代码 with a bad check digit explained, the code sent
by the test verifier, a wrong code, the right one), the policies with their reasons, one opened,
确认申领 and 不适用 (typed and tapped), the manual kind's materials and place, unbinding. Every reply
is also rendered as WeChat text, so each new message is checked in that channel too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.channels.wechat.render import WECHAT_TEXT_LIMIT, WeChatRenderer, nbytes
from bot.policies.catalog import PolicyCatalog
from bot.policies.matching import run_matching
from bot.policies.models import PolicyMatch, PolicyMatchEvent
from bot.policies.uscc import with_check_digit
from tests.dialogue_helpers import Recorder
from tests.policies.conftest import GUIDES, TODAY
from tests.policies.helpers import add

URL = "/api/v1/dialogue/policies"
USER = "o_wx_policy_dialogue_1"
COMPANY = "河南稳岗达标有限公司"
RENDERER = WeChatRenderer(GUIDES / "templates" / "wechat", "https://ysb.example.gov.cn")


def on_wechat(messages: list[dict[str, Any]]) -> str:
    """The turn as WeChat text: every part within the limit, nothing left blank or unrendered."""
    rendered = RENDERER.render(messages)
    assert rendered.parts, messages
    for part in rendered.parts:
        assert nbytes(part) <= WECHAT_TEXT_LIMIT
        assert "None" not in part and "{{" not in part and "{%" not in part, part
    choices = [m for m in messages if m["type"] == "choices"]
    if choices:  # a typed number means the last choices message's button of that number
        assert rendered.choices == [c["payload"] for c in choices[-1]["choices"]]
    return "\n".join(rendered.parts)


def post(client: TestClient, step: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{URL}/{step}", json=body)
    assert response.status_code == 200, response.text
    reply = response.json()
    if reply["messages"]:
        on_wechat(reply["messages"])
    return reply


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


def buttons(messages: list[dict]) -> dict[str, str]:
    """title → payload of the last choices message."""
    return {c["title"]: c["payload"] for c in of_type(messages, "choices")[-1]["choices"]}


def entities(payload: str) -> dict[str, str]:
    found = re.fullmatch(r"/\w+(\{.*\})?", payload)
    assert found, payload
    return json.loads(found.group(1) or "{}")


class Binding:
    """The binding form's slots as Rasa keeps them; each call sends them along and applies what comes back."""

    def __init__(self, client: TestClient, user_id: str = USER) -> None:
        self.client = client
        self.user_id = user_id
        self.slots: dict[str, Any] = {}

    def apply(self, reply: dict[str, Any]) -> list[dict]:
        self.slots.update(reply["slots"])
        return reply["messages"]

    def start(self, text: str = "绑定企业") -> list[dict]:
        return self.apply(post(self.client, "bind/start", {"user_id": self.user_id, "channel": "wechat", "text": text}))

    def prompt(self, slot: str) -> list[dict]:
        return self.apply(post(self.client, "bind/prompt", {"slot": slot, "state": self.slots}))

    def answer(self, slot: str, text: str, choice: str | None = None) -> list[dict]:
        self.slots[slot] = text
        body = {"slot": slot, "user_id": self.user_id, "channel": "wechat", "state": self.slots, "text": text,
                "choice": choice}
        return self.apply(post(self.client, "bind/interpret", body))

    def done(self) -> list[dict]:
        return self.apply(post(self.client, "bind/done", {"user_id": self.user_id, "state": self.slots}))


def sent_code(app: FastAPI, code: str, user: str = USER) -> str:
    uscc, to, secret = app.state.enterprise_verifier.outbox[-1]
    assert (uscc, to) == (code, user)
    return secret


def bind(client: TestClient, app: FastAPI, code: str, user: str = USER) -> list[dict]:
    """The whole form: the code typed with spaces, the verification code, done."""
    form = Binding(client, user)
    form.start()
    form.answer("bind_uscc", f"{code[:4]} {code[4:10]} {code[10:]}")
    form.answer("bind_code", sent_code(app, code, user))
    assert form.slots["bind_code"] == "ok"
    return form.done()


def matched(engine: Engine, catalog: PolicyCatalog, n: int = 1, name: str = COMPANY) -> str:
    code = add(engine, n, name)
    run_matching(engine, catalog, TODAY, "test")
    return code


def match_status(engine: Engine, match_id: int) -> str:
    with Session(engine) as session:
        match = session.get(PolicyMatch, match_id)
        assert match is not None
        return match.status


# --- not bound, binding ---------------------------------------------------------------------------


def test_a_user_without_a_company_is_offered_binding(client: TestClient) -> None:
    for step, body in (("list", {"text": "我们公司能享受哪些政策"}), ("open", {"match_id": "1"}),
                       ("confirm", {"text": "确认申领"})):
        messages = post(client, step, {"user_id": USER, **body})["messages"]
        assert "先把您的账号绑定到企业" in texts(messages)
        assert buttons(messages) == {"绑定企业": "/bind_company"}
    wechat = on_wechat(post(client, "list", {"user_id": USER})["messages"])
    assert "1. 绑定企业" in wechat  # replying “1” binds


def test_binding_in_the_chat_with_a_bad_check_digit_a_wrong_code_and_the_right_one(
    client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog,
) -> None:
    code = matched(engine, catalog)
    form = Binding(client)
    messages = form.start("我要绑定公司")
    assert form.slots["bind_status"] == "asking" and form.slots["bind_uscc"] is None
    assert "统一社会信用代码" in texts(messages)
    [ask] = form.prompt("bind_uscc")
    assert "18位" in ask["text"] and [c["title"] for c in ask["choices"]] == ["算了"]

    wrong_digit = code[:17] + ("0" if code[17] != "0" else "1")
    messages = form.answer("bind_uscc", wrong_digit)
    assert f"第18位应为 {code[17]}" in texts(messages) and "请核对" in texts(messages)
    assert form.slots["bind_uscc"] is None
    messages = form.answer("bind_uscc", "代码我一时找不着")
    assert "没看到统一社会信用代码" in texts(messages) and form.slots["bind_uscc"] is None
    messages = form.answer("bind_uscc", "91440300708461136T")  # valid, but not in the 企业画像库
    assert "暂无该统一社会信用代码的企业" in texts(messages) and form.slots["bind_uscc"] is None

    messages = form.answer("bind_uscc", f"代码是 {code.lower()[:9]}-{code.lower()[9:]}")
    assert form.slots["bind_uscc"] == code and form.slots["bind_enterprise"] == COMPANY
    assert f"已找到【{COMPANY}】" in texts(messages) and "138****8000" in texts(messages)
    [ask] = form.prompt("bind_code")
    assert "6位验证码" in ask["text"] and COMPANY in ask["text"]
    assert [c["title"] for c in ask["choices"]] == ["重新发送验证码", "换一家企业", "算了"]

    secret = sent_code(app, code)
    messages = form.answer("bind_code", "000000" if secret != "000000" else "111111")
    assert "还可以再试 4 次" in texts(messages) and form.slots["bind_code"] is None
    messages = form.answer("bind_code", "验证码在哪")
    assert "请回复6位数字验证码" in texts(messages)
    messages = form.answer("bind_code", f"验证码是{secret}")
    assert messages == [] and form.slots["bind_code"] == "ok"

    messages = form.done()
    assert texts(messages).startswith(f"绑定成功！您的账号已绑定【{COMPANY}】")
    assert of_type(messages, "policies")[0]["policies"]  # the policies right away
    assert all(form.slots[s] is None for s in ("bind_uscc", "bind_code", "bind_challenge", "bind_status"))
    listed = client.get("/api/v1/enterprise/bindings", params={"user_id": USER}).json()["bindings"]
    assert [(b["uscc"], b["channel"], b["verified_by"]) for b in listed] == [(code, "wechat", "test")]


def test_code_given_at_the_start_resend_another_company_and_already_bound(
    client: TestClient, app: FastAPI, engine: Engine,
) -> None:
    code = add(engine, 1, COMPANY)
    other = add(engine, 2, "河南第二家有限公司")
    form = Binding(client)
    messages = form.start(f"绑定{code}")
    assert form.slots["bind_status"] == "asking" and form.slots["bind_uscc"] == code  # the form asks for the code next
    assert "138****8000" in texts(messages)
    first = form.slots["bind_challenge"]
    messages = form.answer("bind_code", '/choose{"choice": "bind:resend"}', "bind:resend")
    assert form.slots["bind_challenge"] not in (None, first) and "已找到" in texts(messages)
    form.answer("bind_code", "换一家企业")
    assert form.slots["bind_uscc"] is None and form.slots["bind_challenge"] is None
    form.answer("bind_uscc", other)
    form.answer("bind_code", sent_code(app, other))
    assert form.slots["bind_code"] == "ok"
    form.done()

    again = Binding(client)
    messages = again.start(f"统一社会信用代码{other}")
    assert again.slots["bind_status"] == "done"  # settled at once: the form does not run
    assert "无需重复绑定" in texts(messages) and of_type(messages, "policies")
    # a company may have several bound users
    bind(client, app, other, "o_wx_accountant")
    assert [b["uscc"] for b in client.get("/api/v1/enterprise/bindings",
                                           params={"user_id": "o_wx_accountant"}).json()["bindings"]] == [other]


def test_stop_and_unbind(client: TestClient, app: FastAPI, engine: Engine) -> None:
    assert "先不绑定了" in texts(post(client, "bind/stop", {})["messages"])
    messages = post(client, "unbind", {"user_id": USER, "text": "解绑企业"})["messages"]
    assert "还没有绑定企业" in texts(messages)
    code = add(engine, 1, COMPANY)
    bind(client, app, code)
    messages = post(client, "unbind", {"user_id": USER, "text": "解除绑定"})["messages"]
    assert buttons(messages) == {f"解绑：{COMPANY}": f'/unbind_company{{"uscc": "{code}"}}'}
    reply = post(client, "unbind", {"user_id": USER, "uscc": code, "text": buttons(messages)[f"解绑：{COMPANY}"]})
    assert f"已解绑【{COMPANY}】" in texts(reply["messages"])
    assert client.get("/api/v1/enterprise/bindings", params={"user_id": USER}).json()["bindings"] == []
    assert "先把您的账号绑定到企业" in texts(post(client, "list", {"user_id": USER})["messages"])


# --- the policies ---------------------------------------------------------------------------------


def test_policies_with_reasons_open_confirm_and_decline(
    client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog,
) -> None:
    code = matched(engine, catalog)
    bind(client, app, code)
    messages = post(client, "list", {"user_id": USER, "text": "我们公司能享受哪些政策"})["messages"]
    assert [m["type"] for m in messages] == ["text", "policies", "choices"]
    assert COMPANY in messages[0]["text"]
    policies = {p["id"]: p for p in messages[1]["policies"]}
    assert {"wengang_fanhuan", "yicixing_kuogang", "chuangye_danbao_daikuan"} <= set(policies)
    wengang = policies["wengang_fanhuan"]
    assert {"id", "title", "kind", "why", "status"} <= set(wengang)
    assert wengang["why"][0] == "足额缴纳失业保险满12个月（贵企业：26个月）"
    assert (wengang["kind_label"], wengang["status_label"], wengang["enterprise"]["uscc"]) == ("条件类", "符合条件", code)
    opens = [entities(c["payload"])["match_id"] for c in messages[2]["choices"]]
    assert opens == [str(p["match_id"]) for p in messages[1]["policies"]]  # the buttons in the list's order
    wechat = on_wechat(messages)
    assert "符合原因：足额缴纳失业保险满12个月（贵企业：26个月）" in wechat and "条件类｜符合条件" in wechat

    reply = post(client, "open", {"user_id": USER, "match_id": str(wengang["match_id"])})
    detail = texts(reply["messages"])
    assert "【失业保险稳岗返还】" in detail or wengang["title"] in detail
    for shown in ("中小微企业按上年度实际缴纳失业保险费的 60% 返还", "足额缴纳失业保险满12个月", "2026年"):
        assert shown in detail
    assert list(buttons(reply["messages"])) == ["确认申领", "不适用", "返回政策列表"]
    assert reply["slots"] == {"policy_match_id": str(wengang["match_id"])}

    state = reply["slots"]  # typed “确认申领” right after opening: the policy opened
    confirmed = post(client, "confirm", {"user_id": USER, "text": "确认申领", "state": state})["messages"]
    assert f"已为{COMPANY}确认申领" in texts(confirmed) and "个工作日内兑现" in texts(confirmed)
    assert match_status(engine, wengang["match_id"]) == "confirmed"
    repeat = post(client, "confirm", {"user_id": USER, "match_id": str(wengang["match_id"]), "state": state})
    assert "已经确认申领过了" in texts(repeat["messages"])
    reopened = post(client, "open", {"user_id": USER, "match_id": str(wengang["match_id"])})["messages"]
    assert "已确认申领" in texts(reopened) and list(buttons(reopened)) == ["不适用", "返回政策列表"]

    kuogang = str(policies["yicixing_kuogang"]["match_id"])
    declined = post(client, "decline", {"user_id": USER, "match_id": kuogang, "text": "我们没招高校毕业生，不适用"})
    assert "不适用" in texts(declined["messages"]) and match_status(engine, int(kuogang)) == "declined"
    with Session(engine) as session:
        note = session.scalar(select(PolicyMatchEvent.note).where(PolicyMatchEvent.match_id == int(kuogang),
                                                                   PolicyMatchEvent.to_status == "declined"))
    assert note == "我们没招高校毕业生，不适用"
    tapped = post(client, "decline", {"user_id": USER, "match_id": kuogang, "text": f'/decline_claim{{"match_id": "{kuogang}"}}'})
    assert "已经标记为不适用" in texts(tapped["messages"])


def test_manual_policy_gives_materials_and_place_and_cannot_be_confirmed(
    client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog,
) -> None:
    bind(client, app, matched(engine, catalog))
    listed = post(client, "list", {"user_id": USER})["messages"]
    manual = next(p for p in of_type(listed, "policies")[0]["policies"] if p["id"] == "chuangye_danbao_daikuan")
    reply = post(client, "open", {"user_id": USER, "match_id": str(manual["match_id"])})
    detail = texts(reply["messages"])
    for shown in ("简易申报", "创业担保贷款申请表（线上填写）", "营业执照（电子证照共享）", "办理地点：县政务服务中心人社窗口",
                  "网上办理：豫事办 → 就业创业 → 创业担保贷款", "咨询电话：12333", "10个工作日"):
        assert shown in detail, shown
    assert list(buttons(reply["messages"])) == ["不适用", "返回政策列表"]
    assert not of_type(reply["messages"], "link")  # the online entry is a menu path, not an address
    refused = post(client, "confirm", {"user_id": USER, "match_id": str(manual["match_id"])})
    assert "简易申报" in texts(refused["messages"])
    assert match_status(engine, manual["match_id"]) == "matched"


def test_typed_references_and_strangers(client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog) -> None:
    bind(client, app, matched(engine, catalog))
    listed = post(client, "list", {"user_id": USER})["messages"]
    ordered = of_type(listed, "policies")[0]["policies"]
    named = post(client, "list", {"user_id": USER, "text": "稳岗返还我们能享受吗"})
    wengang = next(p for p in ordered if p["id"] == "wengang_fanhuan")
    assert named["slots"] == {"policy_match_id": str(wengang["match_id"])}  # opened at once
    second = post(client, "open", {"user_id": USER, "text": "看看第2个"})
    assert second["slots"] == {"policy_match_id": str(ordered[1]["match_id"])}
    unclear = post(client, "open", {"user_id": USER, "text": "那个政策"})["messages"]
    assert "没看明白您说的是哪项政策" in texts(unclear) and of_type(unclear, "policies")

    # typed “确认申领” with no policy open: which one, as buttons
    which = post(client, "confirm", {"user_id": USER, "text": "确认申领"})["messages"]
    titles = list(buttons(which))
    assert titles and all(t.startswith("确认申领：") for t in titles) and "确认申领：创业担保贷款" not in titles

    stranger = "o_wx_stranger"
    bind(client, app, add(engine, 7, "别人家的有限公司"), stranger)
    reply = post(client, "open", {"user_id": stranger, "match_id": str(wengang["match_id"])})
    assert "没有找到这项政策" in texts(reply["messages"])
    reply = post(client, "confirm", {"user_id": stranger, "match_id": str(wengang["match_id"])})
    assert "没有找到这项政策" in texts(reply["messages"])
    assert match_status(engine, wengang["match_id"]) == "matched"


@pytest.mark.parametrize("body", [
    {"user_id": ""}, {"user_id": "u" * 129}, {"user_id": USER, "text": "很" * 8001}, {"user_id": USER, "match_id": "1" * 41},
])
def test_bad_requests_are_422_in_chinese(client: TestClient, body: dict) -> None:
    response = client.post(f"{URL}/open", json=body)
    assert response.status_code == 422
    assert re.search(r"[\u4e00-\u9fff]", response.json()["detail"])


def test_every_policy_template_renders_in_the_steps(
    client: TestClient, app: FastAPI, engine: Engine, catalog: PolicyCatalog, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each policy_* reply in guides/templates/replies.yml is reachable and renders (StrictUndefined)."""
    from bot.api.routes.policy_dialogue import get_policy_dialogue
    from bot.policies import binding

    recorders: list[Recorder] = []

    def recording(request: Request) -> Any:
        dialogue = get_policy_dialogue(request)
        dialogue.say = Recorder(dialogue.say)  # type: ignore[method-assign]
        recorders.append(dialogue.say)
        return dialogue

    app.dependency_overrides[get_policy_dialogue] = recording
    try:
        code = add(engine, 1, COMPANY)
        add(engine, 2, "河南还差两个月有限公司", ui_paid_months=10)  # 稳岗返还: a near miss
        honest_less = add(engine, 3, "河南失信被执行有限公司", dishonest=True, small_low_profit=False)  # no policy
        run_matching(engine, catalog, TODAY, "test")
        post(client, "list", {"user_id": USER})  # not bound
        form = Binding(client)
        form.start()
        form.prompt("bind_uscc")
        form.answer("bind_uscc", "不知道")
        form.answer("bind_uscc", code[:17] + ("0" if code[17] != "0" else "1"))
        form.answer("bind_uscc", "91440300708461136T")
        form.answer("bind_uscc", code)
        form.prompt("bind_code")
        form.answer("bind_code", "收到了")
        form.answer("bind_code", "999999" if sent_code(app, code) != "999999" else "888888")
        form.answer("bind_code", sent_code(app, code))
        form.done()
        Binding(client).start(f"绑定{code}")  # bound already
        post(client, "bind/done", {"user_id": USER, "state": {"bind_uscc": "-", "bind_code": "-"}})
        post(client, "bind/stop", {})
        restart = Binding(client)
        restart.slots.update({"bind_uscc": code, "bind_enterprise": COMPANY})
        restart.answer("bind_code", "123456")  # no challenge going on
        bind(client, app, with_check_digit("9141052000000000" + "2"))

        listed = post(client, "list", {"user_id": USER})["messages"]
        first = str(of_type(listed, "policies")[0]["policies"][0]["match_id"])
        post(client, "open", {"user_id": USER, "text": "那个"})
        post(client, "open", {"user_id": USER, "match_id": first})
        post(client, "open", {"user_id": "o_wx_nobody_bound", "match_id": first})
        bind(client, app, honest_less, "o_wx_nothing")
        post(client, "open", {"user_id": "o_wx_nothing", "match_id": first})  # not theirs
        post(client, "confirm", {"user_id": "o_wx_nothing", "text": "确认申领"})
        post(client, "confirm", {"user_id": USER, "text": "确认申领"})
        post(client, "confirm", {"user_id": USER, "match_id": first})
        post(client, "decline", {"user_id": USER, "match_id": first})
        post(client, "unbind", {"user_id": "o_wx_never"})
        post(client, "unbind", {"user_id": USER})
        post(client, "unbind", {"user_id": USER, "uscc": code})
        with monkeypatch.context() as patched:
            busy = OperationalError("SELECT", {}, Exception("database is locked"))
            patched.setattr(binding, "bindings_of", lambda *a, **k: (_ for _ in ()).throw(busy))
            post(client, "list", {"user_id": USER})
    finally:
        app.dependency_overrides.pop(get_policy_dialogue, None)

    templates = {k for k in client.app.state.catalog_store.get().wording.templates if k.startswith("policy_")}  # type: ignore[attr-defined]
    rendered = set().union(*(r.keys for r in recorders))
    assert rendered == templates, f"never rendered: {sorted(templates - rendered)}"
