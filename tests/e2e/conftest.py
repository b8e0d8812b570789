"""Start the real processes once per test session: Rasa, the action server and the bot.

They run on free ports with their own Redis key prefix, so a `make run` on the same machine is
not disturbed, and the tracker store really is Redis whenever one answers.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.config import ROOT
from bot.launcher import Stack, ensure_redis, free_port, redis_answers
from bot.training import ensure_model, rasa_bin
from tests.fakes.wechat_api import FakeWeChatAPI

ENTERPRISE_TEST_CODE = "314159"  # the bot's test verifier sends nothing; this is every binding's code
POLICY_TEMPLATE = "TPL-E2E-POLICY"  # the template message of 惠企政策 notices


@dataclass(frozen=True)
class WeChatAccount:
    """The official account the stack's bot serves at /wechat (safe mode), and WeChat's fake API."""

    token: str
    app_id: str
    secret: str
    aes_key: str
    api: FakeWeChatAPI


@pytest.fixture(scope="session")
def wechat() -> Iterator[WeChatAccount]:
    app_id = "wxe2e" + secrets.token_hex(6)  # unique: the access_token lives in the shared Redis
    secret = secrets.token_hex(16)
    with FakeWeChatAPI(apps={app_id: secret}) as api:
        yield WeChatAccount(token="e2etoken" + secrets.token_hex(4), app_id=app_id, secret=secret,
                            aes_key=base64.b64encode(os.urandom(32)).decode().rstrip("="), api=api)


@pytest.fixture(scope="session")
def stack(wechat: WeChatAccount) -> Iterator[Stack]:
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
        env={"DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='e2e-db-')}/e2e.db", "GUIDES_DIR": str(guides_dir),
             "PUBLIC_BASE_URL": "https://yishiban.example.cn", "ENTERPRISE_TEST_CODE": ENTERPRISE_TEST_CODE,
             "WECHAT_TOKEN": wechat.token, "WECHAT_APP_ID": wechat.app_id, "WECHAT_APP_SECRET": wechat.secret,
             "WECHAT_AES_KEY": wechat.aes_key, "WECHAT_API_BASE_URL": wechat.api.url,
             "WECHAT_TEMPLATE_COMPLAINT_ANSWER": "TPL-E2E-ANSWER", "WECHAT_TEMPLATE_POLICY_NOTICE": POLICY_TEMPLATE},
        with_worker=True,  # the arq worker: pushes (answers to WeChat users) and sweeps
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
