"""The official account's custom menu: which button says what to the assistant (guides/templates/wechat/menu.yml)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field

MENU_FILE = Path("templates") / "wechat" / "menu.yml"


class MenuButton(BaseModel):
    key: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")
    title: str = Field(min_length=1, max_length=16)  # WeChat shows at most 4 Chinese characters per top button comfortably
    says: str = Field(min_length=1, max_length=100)


class Menu(BaseModel):
    buttons: list[MenuButton] = Field(min_length=1, max_length=3)  # WeChat allows three top-level buttons

    def says(self, key: str) -> str | None:
        return next((b.says for b in self.buttons if b.key == key), None)

    def to_wechat(self) -> dict:
        """The body of WeChat's menu/create API."""
        return {"button": [{"type": "click", "name": b.title, "key": b.key} for b in self.buttons]}


def load_menu(guides_dir: Path) -> Menu:
    """Read at every click: staff edits apply at once, and the file is tiny."""
    return Menu.model_validate(yaml.safe_load((guides_dir / MENU_FILE).read_text(encoding="utf-8")))
