"""The official account's menu: guides/templates/wechat/menu.yml, validated, and pushed through wechatpy."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.channels.wechat.menu import Menu, load_menu
from bot.cli import app
from bot.config import get_settings
from tests.fakes.wechat_api import FakeWeChatAPI

GUIDES = Path(__file__).resolve().parents[2] / "guides"


def test_the_shipped_menu_names_the_three_entry_points() -> None:
    menu = load_menu(GUIDES)
    assert [b.title for b in menu.buttons] == ["一件事导办", "我要投诉", "惠企政策"]
    assert menu.says("COMPLAIN") == "我要投诉"
    assert menu.says("NO_SUCH_KEY") is None


@pytest.mark.parametrize(
    "buttons",
    [
        [],  # nothing to show
        [{"key": f"K{i}", "title": "按钮", "says": "你好"} for i in range(4)],  # WeChat allows three
        [{"key": "含中文", "title": "按钮", "says": "你好"}],  # keys are ASCII
        [{"key": "K", "title": "", "says": "你好"}],
    ],
)
def test_bad_menus_are_refused(buttons: list[dict]) -> None:
    with pytest.raises(ValidationError):
        Menu.model_validate({"buttons": buttons})


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeWeChatAPI, str, str]]:
    app_id, secret = "wxmenu" + secrets.token_hex(6), secrets.token_hex(16)
    with FakeWeChatAPI(apps={app_id: secret}) as api:
        yield api, app_id, secret


def test_cli_pushes_the_menu_to_wechat(fake_api: tuple[FakeWeChatAPI, str, str]) -> None:
    api, app_id, secret = fake_api
    env = {"WECHAT_APP_ID": app_id, "WECHAT_APP_SECRET": secret, "WECHAT_API_BASE_URL": api.url,
           "REDIS_URL": "redis://127.0.0.1:6379/0", "GUIDES_DIR": str(GUIDES)}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["wechat-menu", "--push"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    pushed = api.sent("menu")
    assert len(pushed) == 1
    assert [b["key"] for b in pushed[0]["payload"]["button"]] == ["GUIDE", "COMPLAIN", "POLICY"]
    assert all(b["type"] == "click" for b in pushed[0]["payload"]["button"])
