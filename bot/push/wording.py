"""The fields of template and subscribe messages, from guides/templates/wechat/push.yml.

Staff edit the values (jinja2, sandboxed, a typo fails loudly); the field names follow the template
the account registered with WeChat. The file is read again when it changes, so an edit applies to
the next push without a restart.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, RootModel

PUSH_FILE = "push.yml"
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class MessageFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: dict[str, str] = {}
    subscribe: dict[str, str] = {}


class PushWordingFile(RootModel[dict[str, MessageFields]]):
    pass


class PushWording:
    def __init__(self, templates_dir: Path) -> None:
        self.path = Path(templates_dir) / PUSH_FILE
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._data: dict[str, MessageFields] = {}

    def _current(self) -> dict[str, MessageFields]:
        mtime = self.path.stat().st_mtime
        with self._lock:
            if mtime != self._mtime:
                raw = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
                self._data = PushWordingFile.model_validate(raw).root
                self._mtime = mtime
            return self._data

    def fields(self, name: str, method: Literal["template", "subscribe"], **context: Any) -> dict[str, dict[str, str]]:
        """WeChat's ``data``: each field rendered, as ``{"field": {"value": "..."}}``."""
        spec = getattr(self._current()[name], method)
        if not spec:
            raise KeyError(f"{PUSH_FILE}: no {method} fields for {name}")
        return {field: {"value": _template(source).render(**context).strip()} for field, source in spec.items()}


@lru_cache(maxsize=1024)
def _template(source: str) -> Template:
    # Compiling is most of a push's CPU (measured: half of it, bench/push_throughput.py); a field's
    # source changes only when staff edit push.yml, and then the new text is a new key.
    return _env.from_string(source)
