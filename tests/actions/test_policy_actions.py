"""惠企政策 and 企业绑定: list, open, 确认申领, 不适用, the binding form, unbinding, 算了.

Each test: a tracker from fixtures/policy_*.json / binding_*.json / unbind_*.json (placeholders such
as the company's code or the match id replaced), one action run against the real backend (its own
throw-away database, whose test verifier uses a fixed code), then the json_messages dispatched and
the events returned. The enterprise is put into the backend's database and matched by a subprocess
of the app venv (bot.policies; this venv cannot import the app).
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from typing import Any

import pytest
from action_helpers import APP_PYTHON, ROOT, assert_payloads_known, load, payloads, post_json, sent, slot_values

pytestmark = pytest.mark.asyncio(loop_scope="session")

COMPANY = "河南稳岗达标有限公司"
# An enterprise that meets 稳岗返还 and others (tests/policies/helpers.py), matched on the bot's today.
SEED_SCRIPT = """
import sys
from datetime import date
from pathlib import Path
from bot.policies.catalog import build_policy_catalog
from bot.policies.matching import run_matching
from bot.store.db import make_engine
from tests.policies.helpers import add

url, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
engine = make_engine(url)
code = add(engine, n, name)
run_matching(engine, build_policy_catalog(Path("guides")), date.today(), "test")
print(code)
"""


@pytest.fixture(scope="module")
def company(backend_url: str, backend_database: str) -> str:
    """The 统一社会信用代码 of an enterprise in the bot's database, with its policy matches."""
    done = subprocess.run([str(APP_PYTHON), "-c", SEED_SCRIPT, backend_database, "501", COMPANY],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def bind_through_api(backend_url: str, user_id: str, code: str, secret: str) -> None:
    started = post_json(f"{backend_url}/api/v1/enterprise/bindings", {"user_id": user_id, "channel": "wechat", "uscc": code})
    body = {"user_id": user_id, "challenge_id": started["challenge_id"], "code": secret}
    post_json(f"{backend_url}/api/v1/enterprise/bindings/verify", body)


def my_policies(backend_url: str, user_id: str) -> dict[str, dict[str, Any]]:
    query = urllib.parse.urlencode({"user_id": user_id})
    mine = get_json(f"{backend_url}/api/v1/policies/mine?{query}")
    return {p["id"]: p for p in mine["message"]["policies"]}


def as_user(user_id: str) -> dict[str, str]:
    return {"policy-user": user_id}  # the fixtures' sender, replaced so each test has its own user


async def test_a_user_without_a_company_is_offered_binding(actions, dispatcher, domain):
    events = await actions.policy_actions.ActionListPolicies().run(dispatcher, load("policy_list_unbound"), domain)

    [offer] = sent(dispatcher)
    assert offer["type"] == "choices" and "绑定到企业" in offer["text"]
    assert payloads(offer) == [("bind_company", {})]
    assert_payloads_known([offer], domain)
    assert events == []


async def test_binding_with_the_code_in_the_first_message(actions, dispatcher, domain, company, enterprise_code, backend_url):
    user = "binding-user"
    fill = {**as_user(user), "USCC": company, "COMPANY": COMPANY}
    events = await actions.policy_actions.ActionStartBinding().run(
        dispatcher, load("binding_start_with_code", **fill), domain
    )
    intro, code_sent = sent(dispatcher)
    assert "统一社会信用代码" in intro["text"]
    assert f"已找到【{COMPANY}】" in code_sent["text"] and "138****8000" in code_sent["text"]
    slots = slot_values(events)
    assert (slots["bind_status"], slots["bind_uscc"], slots["bind_enterprise"], slots["bind_code"]) == (
        "asking", company, COMPANY, None)  # the last binding's answers are dropped, the form asks for the code
    challenge = slots["bind_challenge"]
    assert challenge and "policy_match_id" not in slots

    dispatcher.messages.clear()
    events = await actions.policy_actions.ActionAskBindCode().run(
        dispatcher, load("binding_ask_code", **fill, CHALLENGE=challenge), domain
    )
    [ask] = sent(dispatcher)
    assert "6位验证码" in ask["text"] and COMPANY in ask["text"]
    assert payloads(ask) == [("choose", {"choice": "bind:resend"}), ("choose", {"choice": "bind:other"}), ("stop", {})]
    assert_payloads_known([ask], domain)
    assert events == []

    wrong = "135790" if enterprise_code != "135790" else "975310"
    dispatcher.messages.clear()
    events = await actions.policy_actions.ValidateBindingForm().run(
        dispatcher, load("binding_validate_code", **fill, CHALLENGE=challenge, CODE=wrong), domain
    )
    [note] = sent(dispatcher)
    assert "验证码不对，还可以再试 4 次" in note["text"]
    assert slot_values(events) == {"bind_code": None}  # asked again

    dispatcher.messages.clear()
    events = await actions.policy_actions.ValidateBindingForm().run(
        dispatcher, load("binding_validate_code", **fill, CHALLENGE=challenge, CODE=enterprise_code), domain
    )
    assert sent(dispatcher) == []
    assert slot_values(events)["bind_code"] == "ok"

    dispatcher.messages.clear()
    events = await actions.policy_actions.ActionBindingDone().run(dispatcher, load("binding_done", **fill), domain)
    messages = sent(dispatcher)
    assert messages[0]["text"].startswith(f"绑定成功！您的账号已绑定【{COMPANY}】")
    assert [m["type"] for m in messages[1:]] == ["text", "policies", "choices"]  # the policies at once
    assert_payloads_known(messages, domain)
    slots = slot_values(events)
    assert all(slots[s] is None for s in ("bind_status", "bind_uscc", "bind_code", "bind_challenge", "bind_enterprise"))
    bindings = get_json(f"{backend_url}/api/v1/enterprise/bindings?user_id={user}")["bindings"]
    assert [(b["uscc"], b["channel"]) for b in bindings] == [(company, "wechat")]


async def test_a_bad_check_digit_is_explained_and_asked_again(actions, dispatcher, domain):
    events = await actions.policy_actions.ValidateBindingForm().run(dispatcher, load("binding_validate_uscc_bad"), domain)

    [note] = sent(dispatcher)
    assert "校验位不对：第18位应为 4" in note["text"] and "请核对" in note["text"]
    assert slot_values(events) == {"bind_uscc": None}


async def test_stop_binding(actions, dispatcher, domain):
    events = await actions.policy_actions.ActionStopBinding().run(dispatcher, load("binding_stop"), domain)

    [said] = sent(dispatcher)
    assert "先不绑定了" in said["text"]
    assert all(value is None for value in slot_values(events).values())


async def test_policies_open_confirm_typed_and_decline_tapped(
    actions, dispatcher, domain, company, enterprise_code, backend_url,
):
    user = "policy-list-user"
    bind_through_api(backend_url, user, company, enterprise_code)
    events = await actions.policy_actions.ActionListPolicies().run(dispatcher, load("policy_list", **as_user(user)), domain)
    intro, card, choices = sent(dispatcher)
    assert COMPANY in intro["text"] and card["type"] == "policies"
    listed = {p["id"]: p for p in card["policies"]}
    wengang, kuogang = listed["wengang_fanhuan"], listed["yicixing_kuogang"]
    assert wengang["why"] and wengang["status"] == "matched" and wengang["kind_label"] == "条件类"
    assert [e["match_id"] for _, e in payloads(choices)] == [str(p["match_id"]) for p in card["policies"]]
    assert_payloads_known([choices], domain)
    assert events == []

    dispatcher.messages.clear()
    fill = {**as_user(user), "MATCH_ID": str(wengang["match_id"])}
    events = await actions.policy_actions.ActionOpenPolicy().run(dispatcher, load("policy_open_button", **fill), domain)
    detail, claim = sent(dispatcher)
    assert wengang["title"] in detail["text"] and "符合原因" in detail["text"] and "60%" in detail["text"]
    assert [c["title"] for c in claim["choices"]] == ["确认申领", "不适用", "返回政策列表"]
    assert_payloads_known([claim], domain)
    assert slot_values(events) == {"policy_match_id": str(wengang["match_id"])}

    dispatcher.messages.clear()  # typed “确认申领”: the policy just opened (its id in the slot)
    await actions.policy_actions.ActionConfirmClaim().run(dispatcher, load("policy_confirm_typed", **fill), domain)
    [said] = sent(dispatcher)
    assert f"已为{COMPANY}确认申领【{wengang['title']}】" in said["text"]
    assert my_policies(backend_url, user)["wengang_fanhuan"]["status"] == "confirmed"

    dispatcher.messages.clear()  # the 不适用 button of another policy, while 稳岗返还 is the one opened
    fill = {**as_user(user), "MATCH_ID": str(kuogang["match_id"]), "OTHER_ID": str(wengang["match_id"])}
    await actions.policy_actions.ActionDeclineClaim().run(dispatcher, load("policy_decline_button", **fill), domain)
    [said] = sent(dispatcher)
    assert f"【{kuogang['title']}】对{COMPANY}不适用" in said["text"]
    after = my_policies(backend_url, user)
    assert (after["yicixing_kuogang"]["status"], after["wengang_fanhuan"]["status"]) == ("declined", "confirmed")


async def test_unbind_asks_which_then_the_button_unbinds(actions, dispatcher, domain, company, enterprise_code, backend_url):
    user = "unbind-user"
    bind_through_api(backend_url, user, company, enterprise_code)
    await actions.policy_actions.ActionUnbindCompany().run(dispatcher, load("unbind_typed", **as_user(user)), domain)
    [which] = sent(dispatcher)
    assert payloads(which) == [("unbind_company", {"uscc": company})] and COMPANY in which["text"]
    assert_payloads_known([which], domain)

    dispatcher.messages.clear()
    await actions.policy_actions.ActionUnbindCompany().run(
        dispatcher, load("unbind_button", **as_user(user), USCC=company), domain
    )
    [said] = sent(dispatcher)
    assert f"已解绑【{COMPANY}】" in said["text"]
    assert get_json(f"{backend_url}/api/v1/enterprise/bindings?user_id={user}")["bindings"] == []
