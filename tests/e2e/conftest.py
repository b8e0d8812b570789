"""Start the real processes once per test session: Rasa, the action server and the bot.

They run on free ports with their own Redis key prefix, so a `make run` on the same machine is
not disturbed, and the tracker store really is Redis whenever one answers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import ROOT
from bot.launcher import Stack, ensure_redis, free_port, redis_answers
from bot.training import ensure_model, rasa_bin


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if not rasa_bin().exists():
        pytest.fail("Rasa venv missing: run `make test` (it creates .venv-rasa)")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # A copy of guides/, so a test can add a guide to the running system as staff would.
    guides_dir = Path(tempfile.mkdtemp(prefix="e2e-guides-")) / "guides"
    shutil.copytree(ROOT / "guides", guides_dir)
    ensure_redis(redis_url)
    assert redis_answers(redis_url)
    running = Stack(
        model=ensure_model(ROOT / "guides"),
        bot_port=free_port(),
        rasa_port=free_port(),
        action_port=free_port(),
        redis_url=redis_url,
        key_prefix="e2e" + secrets.token_hex(4),
        log_dir=Path(tempfile.mkdtemp(prefix="e2e-logs-")),
        env={"DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='e2e-db-')}/e2e.db", "GUIDES_DIR": str(guides_dir)},
    )
    running.guides_dir = guides_dir  # type: ignore[attr-defined]
    running.start(timeout=300)
    yield running
    running.stop()


class Chat:
    """One citizen talking to the bot through POST /api/v1/chat."""

    def __init__(self, base_url: str, user_id: str | None = None) -> None:
        self.url = f"{base_url}/api/v1/chat"
        self.user_id = user_id or f"test-{secrets.token_hex(6)}"
        self.client = httpx.Client(timeout=60)

    def raw(self, body: object) -> httpx.Response:
        return self.client.post(self.url, json=body)

    def say(self, text: str) -> list[dict]:
        response = self.raw({"user_id": self.user_id, "text": text})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def tap(self, payload: str) -> list[dict]:
        response = self.raw({"user_id": self.user_id, "payload": payload})
        assert response.status_code == 200, response.text
        return response.json()["messages"]


@pytest.fixture
def chat(stack: Stack) -> Chat:
    return Chat(stack.bot_url)
