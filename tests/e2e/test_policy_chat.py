"""End to end: 惠企政策 免申即享 in the chat, on the real stack (Rasa, actions, bot).

Staff import a few enterprises with the CLI (`bot enterprises import`) and run the matching
(`bot policies match`), as the nightly job does. An enterprise user asks “我们公司能享受哪些政策”,
is offered binding, gives the 统一社会信用代码 (first with a wrong check digit, which is explained)
and the code of the test verifier, sees the policies with the reasons, opens one and confirms the
claim; the match is then confirmed in the database, by that user. Through the official account, the
worker pushes the template message once the user is bound (matched → notified) before they ask.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import ROOT
from bot.policies.models import Enterprise, PolicyMatch, PolicyMatchEvent
from bot.policies.uscc import with_check_digit
from bot.store.db import make_engine, make_sessionmaker
from tests.e2e.conftest import ENTERPRISE_TEST_CODE, POLICY_TEMPLATE, Chat, WeChatAccount
from tests.e2e.test_complaint_chat import dump, last_choices, of_type, tap, text_of
from tests.e2e.test_wechat import WeChatUser
from tests.fakes.wechat_sim import WeChatSimulator

pytestmark = pytest.mark.e2e

COMPANY = "河南豫丰精密机械有限公司"
ROWS: list[dict[str, Any]] = [
    # 稳岗返还 and others: insured for 26 months, 3.2% layoffs, a small company
    {"uscc": with_check_digit("91410522MA9E2E001"), "name": COMPANY, "contact_phone": "13800138000",
     "entity_type": "有限责任公司", "scale": "小型", "industry": "C3425", "region": "410522", "established_on": "2015-06-01",
     "abnormal_operation": "否", "insured_count": 25, "ui_paid_months": 26, "layoff_rate": "3.20", "new_jobs_last_year": 3,
     "graduates_hired": 2, "revenue_last_year": "1800", "tax_paid_last_year": "60", "taxpayer_type": "一般纳税人",
     "small_low_profit": "是", "tax_credit_rating": "B", "tech_sme": "否", "dishonest": "否"},
    {"uscc": with_check_digit("91410522MA9E2E002"), "name": "河南裁员较多制造有限公司", "contact_phone": "13900139000",
     "entity_type": "有限责任公司", "scale": "大型", "industry": "C3425", "region": "410522", "established_on": "2008-03-15",
     "abnormal_operation": "否", "insured_count": 900, "ui_paid_months": 80, "layoff_rate": "12.50", "new_jobs_last_year": 0,
     "graduates_hired": 0, "revenue_last_year": "90000", "tax_paid_last_year": "3000", "taxpayer_type": "一般纳税人",
     "small_low_profit": "否", "tax_credit_rating": "A", "tech_sme": "否", "dishonest": "否"},
    {"uscc": with_check_digit("92410522MA9E2E003"), "name": "安阳县老王烩面馆", "contact_phone": "13700137000",
     "entity_type": "个体工商户", "scale": "微型", "industry": "H6210", "region": "410522", "established_on": "2023-09-01",
     "abnormal_operation": "否", "insured_count": 2, "taxpayer_type": "小规模纳税人", "small_low_profit": "是",
     "owner_group": "退役军人", "dishonest": "否"},
]
# A second company like the first, for the official-account user: the first one's 稳岗返还 is confirmed
# in the web chat, and a confirmed match is not pushed.
PUSHED_COMPANY = "河南豫丰精密机械二厂有限公司"
ROWS.append({**ROWS[0], "uscc": with_check_digit("91410522MA9E2E004"), "name": PUSHED_COMPANY, "contact_phone": "13600136000"})


def cli(stack: Any, *args: str) -> str:
    """`python -m bot ...` against the stack's database and guides, as staff run it."""
    env = {**os.environ, "DATABASE_URL": stack.env["DATABASE_URL"], "GUIDES_DIR": stack.env["GUIDES_DIR"]}
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def imported(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three enterprises imported and matched; the code of the one the user binds."""
    path: Path = tmp_path_factory.mktemp("enterprises") / "export.csv"
    fields = list(dict.fromkeys(key for row in ROWS for key in row))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(ROWS)
    cli(stack, "enterprises", "import", str(path))
    cli(stack, "policies", "match")
    return ROWS[0]["uscc"]


def stored_events(stack: Any, code: str, policy_id: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The match's status and its events (to, by whom, who), oldest first."""
    with make_sessionmaker(make_engine(stack.env["DATABASE_URL"]))() as session:
        match = session.scalar(
            select(PolicyMatch).join(Enterprise, Enterprise.id == PolicyMatch.enterprise_id)
            .where(Enterprise.uscc == code, PolicyMatch.policy_id == policy_id)
        )
        assert match is not None
        events = session.scalars(select(PolicyMatchEvent).where(PolicyMatchEvent.match_id == match.id)
                                 .order_by(PolicyMatchEvent.id)).all()
        return match.status, [(e.to_status, e.actor_type, e.actor) for e in events]


def test_bind_in_the_chat_see_the_policies_with_reasons_and_confirm_one(stack: Any, chat: Chat, imported: str) -> None:
    messages = chat.say("我们公司能享受哪些政策")
    assert "先把您的账号绑定到企业" in text_of(messages), dump(messages)
    messages = tap(chat, messages, "绑定企业")
    assert "统一社会信用代码" in last_choices(messages)["text"], dump(messages)  # the form asks for the code

    wrong = imported[:17] + ("0" if imported[17] != "0" else "1")
    messages = chat.say(wrong)
    assert f"校验位不对：第18位应为 {imported[17]}" in text_of(messages), dump(messages)
    assert "统一社会信用代码" in last_choices(messages)["text"]  # asked again

    messages = chat.say(f"{imported[:8]} {imported[8:]}")
    assert f"已找到【{COMPANY}】" in text_of(messages) and "138****8000" in text_of(messages), dump(messages)
    assert "6位验证码" in last_choices(messages)["text"]
    messages = chat.say(ENTERPRISE_TEST_CODE)
    assert f"绑定成功！您的账号已绑定【{COMPANY}】" in text_of(messages), dump(messages)

    messages = chat.say("我们公司能享受哪些政策")
    [card] = of_type(messages, "policies")
    policies = {p["id"]: p for p in card["policies"]}
    assert "wengang_fanhuan" in policies, dump(messages)
    wengang = policies["wengang_fanhuan"]
    assert wengang["why"][0] == "足额缴纳失业保险满12个月（贵企业：26个月）"
    assert wengang["enterprise"] == {"uscc": imported, "name": COMPANY} and wengang["status"] == "matched"

    messages = tap(chat, messages, "查看：稳岗返还")
    assert "中小微企业按上年度实际缴纳失业保险费的 60% 返还" in text_of(messages), dump(messages)
    messages = tap(chat, messages, "确认申领")
    assert f"已为{COMPANY}确认申领【{wengang['title']}】" in text_of(messages), dump(messages)

    status, events = stored_events(stack, imported, "wengang_fanhuan")
    assert status == "confirmed" and events[-1] == ("confirmed", "enterprise", chat.user_id)

    # said again later: the list shows it confirmed
    messages = chat.say("有什么惠企政策")
    confirmed = {p["id"]: p for p in of_type(messages, "policies")[0]["policies"]}["wengang_fanhuan"]
    assert confirmed["status"] == "confirmed" and confirmed["status_label"] == "已确认申领"


def test_official_account_user_binds_gets_the_template_message_then_confirms(
    stack: Any, wechat: WeChatAccount, imported: str,
) -> None:
    """The push step: bound through the official account, the worker's sweep sends the template message
    (matched → notified); asked “我的惠企政策” as the notice says, the list shows it notified; 确认申领."""
    code = ROWS[-1]["uscc"]
    with WeChatSimulator(stack.bot_url, wechat.token, wechat.app_id, aes_key=wechat.aes_key) as sim:
        user = WeChatUser(sim, wechat)
        said = user.say("我的惠企政策")
        assert "先把您的账号绑定到企业" in said and "1. 绑定企业" in said, said
        said = user.say("1")  # the numbered button: 绑定企业
        assert "统一社会信用代码" in said, said
        said = user.say(code)
        assert f"已找到【{PUSHED_COMPANY}】" in said and "136****6000" in said, said
        said = user.say(ENTERPRISE_TEST_CODE)
        assert f"绑定成功！您的账号已绑定【{PUSHED_COMPANY}】" in said, said

        def notice(message: dict[str, Any]) -> bool:
            payload = message["payload"] or {}
            return (message["kind"], message["touser"]) == ("template", user.openid) and \
                payload.get("data", {}).get("keyword2", {}).get("value") == "失业保险稳岗返还"

        [sent] = wechat.api.wait_for(notice, timeout=150)  # the sweep runs every minute
        assert sent["payload"]["template_id"] == POLICY_TEMPLATE
        data = sent["payload"]["data"]
        assert "足额缴纳失业保险满12个月（贵企业：26个月）" in data["first"]["value"]
        assert data["keyword1"]["value"] == PUSHED_COMPANY and "我的惠企政策" in data["remark"]["value"]
        deadline = time.monotonic() + 10  # the worker records the send after WeChat accepted it
        while (found := stored_events(stack, code, "wengang_fanhuan"))[0] != "notified" and time.monotonic() < deadline:
            time.sleep(0.1)
        status, events = found
        assert status == "notified" and events[-1][:2] == ("notified", "system"), found

        said = user.say("我的惠企政策")
        assert "失业保险稳岗返还（条件类｜已通知）" in said, said
        number = re.search(r"(\d+)\. 查看：稳岗返还", said)
        assert number, said
        said = user.say(number.group(1))
        assert "中小微企业按上年度实际缴纳失业保险费的 60% 返还" in said and "1. 确认申领" in said, said
        said = user.say("1")
        assert f"已为{PUSHED_COMPANY}确认申领【失业保险稳岗返还】" in said, said

    status, events = stored_events(stack, code, "wengang_fanhuan")
    assert status == "confirmed"
    assert [e[0] for e in events][-2:] == ["notified", "confirmed"] and events[-1][1:] == ("enterprise", user.openid)
