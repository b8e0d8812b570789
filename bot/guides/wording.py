"""Reply wording: jinja2 templates from guides/templates/replies.yml, rendered in a sandbox.

Staff edit the wording; a template can therefore only format the values it is given, never call
into the application (SandboxedEnvironment), and a typo in a variable name fails loudly in tests
(StrictUndefined) rather than leaving a blank in front of a citizen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class RepliesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    featured: list[str] = Field(default_factory=list)
    replies: dict[str, str]


@dataclass(frozen=True)
class Wording:
    featured: tuple[str, ...]
    templates: dict[str, Template]

    def render(self, key: str, **context: Any) -> str:
        return self.templates[key].render(**context).strip()


def load_wording(path: Path) -> Wording:
    data = RepliesFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    templates = {key: _env.from_string(text) for key, text in data.replies.items()}
    return Wording(tuple(data.featured), templates)
