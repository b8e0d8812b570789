"""Helpers shared by the dialogue-step tests (guides and complaints): payload parsing, template recording."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$")


def parse_payload(text: str) -> tuple[str, dict[str, str]]:
    match = _PAYLOAD.match(text)
    assert match, f"not a payload: {text!r}"
    entities = json.loads(match["entities"]) if match["entities"] else {}
    assert all(isinstance(v, str) for v in entities.values())
    return match["intent"], entities


class Recorder:
    """Wraps Wording.render to record which templates a flow renders."""

    def __init__(self, render: Callable[..., str]) -> None:
        self._render = render
        self.keys: set[str] = set()

    def __call__(self, key: str, **context: Any) -> str:
        self.keys.add(key)
        text = self._render(key, **context)
        assert text.strip(), f"template {key} rendered empty"
        assert "{{" not in text and "{%" not in text
        return text
