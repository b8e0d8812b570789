"""The staff desk in headless Chromium (Debian's package, driven by Playwright), against the bot served
for real on loopback (uvicorn, lifespan on), with a stand-in Rasa for the citizen's chat.

A citizen files a complaint (POST /api/v1/complaints); a member of the police signs in, finds it in
the queue, dispatches and answers it through the forms; the citizen's next chat turn starts with
the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.complaints.staff import create_staff
from bot.config import Settings
from bot.store.db import make_engine, make_sessionmaker, upgrade_database
from tests.browser import chromium
from tests.channels.live import FakeRasa, LiveApp

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "desk-browser-password"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeRasa]]:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        create_staff(session, "police01", "县公安局", PASSWORD)
        session.commit()
    engine.dispose()
    with FakeRasa() as rasa:
        rasa.script("browser-citizen", [{"text": "您好，请问还有什么可以帮您？"}])
        settings = Settings(guides_dir=ROOT / "guides", rasa_url=rasa.url, database_url=url, redis_url=None,
                            guides_check_interval=3600)
        with LiveApp(create_app(settings)) as app:
            yield app.url, rasa


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        yield context.new_page()


def test_staff_answer_a_complaint_and_the_citizen_hears_of_it(served: tuple[str, FakeRasa], page, tmp_path: Path) -> None:
    base, rasa = served
    created = httpx.post(f"{base}/api/v1/complaints", json={
        "user_id": "browser-citizen", "channel": "web", "idempotency_key": "browser-1",
        "text": "派出所户籍窗口办户口让我跑了好几趟，每次都说材料不全", "phone": "13812345678",
    }, timeout=10)
    assert created.status_code == 201, created.text
    no = created.json()["ticket"]["no"]
    assert created.json()["ticket"]["departments"] == ["县公安局"]

    # Not signed in: the queue sends the browser to the sign-in page, and back afterwards.
    page.goto(f"{base}/admin/complaints")
    assert "/admin/login" in page.url
    page.fill("#username", "police01")
    page.fill("#password", "wrong password")
    page.click("#login-submit")
    assert page.locator("#login-error").inner_text() == "用户名或密码错误"
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/complaints")
    assert page.locator("#who").inner_text() == "police01"

    row = page.locator(f'tr[data-no="{no}"]')
    assert row.count() == 1
    assert "138****5678" in row.inner_text() and "13812345678" not in page.content()
    row.locator("a.ticket-link").click()
    page.wait_for_url(f"{base}/admin/complaints/{no}")
    assert page.locator("#ticket-status").inner_text() == "已受理"
    assert "13812345678" in page.locator("#ticket-phone").inner_text()

    page.click("#form-transfer button[type=submit]")
    page.wait_for_url(f"{base}/admin/complaints/{no}?done=transfer")
    assert page.locator("#ticket-status").inner_text() == "已转办"

    answer = "已协调户籍窗口：明天上午带身份证直接到2号窗口办理，<不用再跑>。"
    page.fill("#answer-text", answer)
    page.click("#form-answer button[type=submit]")
    page.wait_for_url(f"{base}/admin/complaints/{no}?done=answer")
    assert page.locator("#ticket-status").inner_text() == "已答复"
    assert page.locator("#ticket-answer").inner_text() == answer  # shown as text, not markup
    assert page.locator("#history tbody tr").count() == 3  # 受理, 转办, 答复
    page.screenshot(path=str(tmp_path / "desk-ticket.png"), full_page=True)

    # The citizen's next turn in the chat starts with the answer; the one after does not.
    reply = httpx.post(f"{base}/api/v1/chat", json={"user_id": "browser-citizen", "text": "你好"}, timeout=10)
    assert reply.status_code == 200, reply.text
    messages = reply.json()["messages"]
    assert messages[0]["type"] == "choices"
    assert messages[0]["text"].startswith(f"您的投诉 {no} 已有答复：{answer}")
    assert "请对处理结果评价" in messages[0]["text"]
    assert [c["title"] for c in messages[0]["choices"]] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert messages[1]["text"] == "您好，请问还有什么可以帮您？"
    again = httpx.post(f"{base}/api/v1/chat", json={"user_id": "browser-citizen", "text": "谢谢"}, timeout=10).json()
    assert [m["text"] for m in again["messages"]] == ["您好，请问还有什么可以帮您？"]
    assert rasa.received("browser-citizen") == ["你好", "谢谢"]

    # Logout ends the session: the queue is out of reach again.
    page.click("#logout")
    page.wait_for_url(f"{base}/admin/login?msg=logged_out")
    page.goto(f"{base}/admin/complaints")
    assert "/admin/login" in page.url
