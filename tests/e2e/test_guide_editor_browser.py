"""The guide editor in headless Chromium against the real stack (Rasa, actions, bot): an editor of
县卫健委 marks a material 免, previews it (WeChat text and the card), publishes, and a new chat on
/chat shows the change; an editor of another department is refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from bot.complaints.staff import create_staff
from bot.launcher import Stack
from bot.store.db import make_engine, make_sessionmaker
from tests.browser import chromium

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "editor-browser-password"
BANK_CARD = "父亲或母亲的本人银行卡（用于报销款到账）"


@pytest.fixture
def accounts(stack: Stack) -> dict[str, str]:
    engine = make_engine(stack.env["DATABASE_URL"])
    suffix = os.urandom(3).hex()
    names = {"health": f"wjw{suffix}", "police": f"gaj{suffix}"}
    with make_sessionmaker(engine)() as session:
        create_staff(session, names["health"], "县卫健委", PASSWORD, guide_editor=True)
        create_staff(session, names["police"], "县公安局", PASSWORD, guide_editor=True)
        session.commit()
    engine.dispose()
    return names


def _sign_in(page: Page, base: str, username: str, then: str) -> None:
    page.goto(f"{base}{then}")
    assert "/admin/login" in page.url
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}{then}")


def _chat_until_the_card(page: Page, base: str) -> Locator:
    page.goto(f"{base}/chat")
    page.fill("#chat-input", "娃刚生下来要办啥手续")
    page.click("#chat-send")
    page.wait_for_selector(".msg.bot >> text=新生儿出生一件事", timeout=30_000)

    def tap(button: Locator) -> None:
        button.wait_for(timeout=30_000)
        before = page.locator(".msg.bot").count()
        button.click()
        page.wait_for_function(f"document.querySelectorAll('.msg.bot').length > {before}", timeout=30_000)

    tap(page.locator('.choice-btn[data-payload*="all"]:not([disabled])').last)
    for _ in range(8):  # the first choice of each question: married, 随父, 本县, 已参保
        if page.locator(".checklist-card").count():
            break
        tap(page.locator(".choice-btn:not([disabled])").first)
    card = page.locator(".checklist-card")
    card.wait_for(timeout=30_000)
    return card


def _bank_card_row(card: Locator) -> Locator:
    return card.locator("li.material", has_text=BANK_CARD)


def test_an_editor_marks_a_material_exempt_previews_publishes_and_the_chat_shows_it(
    stack: Stack, accounts: dict[str, str], tmp_path: Path,
) -> None:
    base = stack.bot_url
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
        citizen = context.new_page()
        before = _bank_card_row(_chat_until_the_card(citizen, base))
        assert before.locator(".badge-exempt").count() == 0

        page = context.new_page()
        _sign_in(page, base, accounts["health"], "/admin/guides")
        page.click('tr[data-doc="guide/newborn"] a.doc-link')
        page.wait_for_url(f"{base}/admin/guides/guide/newborn")
        page.click('#materials tr[data-id="bank_card"] a')
        page.fill("#f-shared_data", "银联账户实名核验")
        page.click("#save")
        page.wait_for_url(f"{base}/admin/guides/guide/newborn?done=saved")
        assert "共享数据：银联账户实名核验" in page.locator('#materials tr[data-id="bank_card"]').inner_text()

        # Preview: answer as the citizen will, see the WeChat text (with its byte count) and the card.
        page.click("#nav-preview")
        page.select_option("#a-married", "married")
        page.select_option("#a-hukou_follow", "father")
        page.select_option("#a-local_hukou", "local")
        page.select_option("#a-insured_parent", "insured")
        page.click("#preview-button")
        page.wait_for_selector("#wechat-preview .wechat-part")
        wechat = page.locator("#wechat-preview").inner_text()
        assert f"✅ {BANK_CARD}：通过“银联账户实名核验”共享核验，免提交" in wechat
        sizes = [int(x) for x in page.locator(".part-bytes").all_inner_texts()]
        assert sizes and all(0 < n <= 2048 for n in sizes)
        frame = page.frame_locator("#card-frame")
        frame.locator(".checklist-card").wait_for(timeout=10_000)
        assert frame.locator("li.material", has_text=BANK_CARD).locator(".badge-exempt").count() == 1
        page.screenshot(path=str(tmp_path / "guide-preview.png"), full_page=True)

        # Not yet published: a citizen still gets the old notice.
        assert _bank_card_row(_chat_until_the_card(citizen, base)).locator(".badge-exempt").count() == 0

        page.goto(f"{base}/admin/guides/guide/newborn")
        page.fill("#f-note", "银行卡改为共享核验")
        page.click("#publish-button")
        page.wait_for_url(f"{base}/admin/guides/guide/newborn?done=published")
        assert "线上：第 2 版" in page.locator("#doc-state").inner_text()

        after = _bank_card_row(_chat_until_the_card(citizen, base))
        assert after.locator(".badge-exempt").count() == 1
        assert "银联账户实名核验" in after.inner_text()

        # Another department's editor may look but not change; the refusal is a 403.
        other = browser.new_context(locale="zh-CN").new_page()  # signed in on its own
        _sign_in(other, base, accounts["police"], "/admin/guides/guide/newborn/materials/bank_card")
        assert other.locator("#save").count() == 0  # read-only form
        token = other.locator('input[name="csrf"]').first.get_attribute("value")
        response = other.request.post(f"{base}/admin/guides/guide/newborn/materials/bank_card",
                                      form={"csrf": token or "", "name": "改名"})
        assert response.status == 403 and "此项由县卫健委维护" in response.text()

        # Leave the shared stack as it was for the other tests: restore version 1 (the file).
        page.goto(f"{base}/admin/guides/guide/newborn/history")
        page.click('tr[data-number="1"] button.restore')
        page.wait_for_url(f"{base}/admin/guides/guide/newborn/history?done=restored")
    reply = httpx.get(f"{base}/api/v1/guides/newborn", timeout=10).json()
    assert not next(m for m in reply["materials"] if m["id"] == "bank_card").get("shared_data")
