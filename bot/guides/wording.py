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
from jinja2 import StrictUndefined, Template, meta
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
    return parse_wording(path.read_text(encoding="utf-8"))


def parse_wording(text: str) -> Wording:
    """The wording from the text of replies.yml (the file, or a version published in the editor)."""
    data = RepliesFile.model_validate(yaml.safe_load(text))
    templates = {key: _env.from_string(source) for key, source in data.replies.items()}
    return Wording(tuple(data.featured), templates)


def template_variables(source: str) -> set[str]:
    """The variables a reply template reads (so an edit can be checked against what the code passes)."""
    return set(meta.find_undeclared_variables(_env.parse(source)))
