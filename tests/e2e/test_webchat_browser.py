"""The /chat page in headless Chromium (Debian's package, driven by Playwright): tap, see the card."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.launcher import Stack
from tests.browser import chromium

if TYPE_CHECKING:
    from playwright.sync_api import Locator

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def page():
    with chromium() as browser:
        yield browser.new_context(viewport={"width": 420, "height": 900}).new_page()


def test_tap_choices_until_the_checklist_card(stack: Stack, page) -> None:
    page.goto(f"{stack.bot_url}/chat")
    page.fill("#chat-input", "娃刚生下来要办啥手续")
    page.click("#chat-send")
    page.wait_for_selector(".msg.bot >> text=新生儿出生一件事", timeout=30_000)

    def tap(button: Locator) -> None:
        """Tap and wait for the answer, so the next tap never hits a button of the previous turn."""
        button.wait_for(timeout=30_000)
        before = page.locator(".msg.bot").count()
        button.click()
        page.wait_for_function(f"document.querySelectorAll('.msg.bot').length > {before}", timeout=30_000)

    # Tap 全部办理, then the first option of every question, until the card shows up.
    tap(page.locator('.choice-btn[data-payload*="all"]:not([disabled])').last)
    for _ in range(8):
        if page.locator(".checklist-card").count():
            break
        tap(page.locator(".choice-btn:not([disabled])").first)
    card = page.locator(".checklist-card")
    card.wait_for(timeout=30_000)
    assert card.get_attribute("data-guide-id") == "newborn"
    assert page.locator(".checklist-card .badge-exempt").count() >= 1
    assert "免" in page.locator(".checklist-card .badge-exempt").first.inner_text()
    assert "承诺时限" in card.inner_text()
    page.screenshot(path=str(stack.log_dir / "webchat-checklist.png"), full_page=True)
