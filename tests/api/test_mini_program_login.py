"""Mini-program sign-in: a wx.login code → code2session (wechatpy, against the loopback FakeWeChatAPI) →
a signed, expiring session token; with MP_APP_ID set, /api/v1/chat requires it and takes the user from it.

The bot runs with its lifespan (TestClient), Rasa is the loopback fake of tests/channels/live.py.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.api.sessions import AUDIENCE, ISSUER, SessionSigner
from bot.app import create_app
from bot.channels.wechat.client import TOKEN_PREFIX
from bot.channels.wechat.setup import open_mini_program
from bot.config import Settings
from tests.channels.live import FakeRasa
from tests.fakes.wechat_api import FakeWeChatAPI

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
RUN = secrets.token_hex(4)
MP_APP_ID = f"wxmp{RUN}"
MP_SECRET = f"mpsecret{RUN}"
SESSION_SECRET = f"mini-program session secret {RUN} of enough bytes"
TTL = 900
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def wechat_api() -> Iterator[FakeWeChatAPI]:
    with FakeWeChatAPI({MP_APP_ID: MP_SECRET}) as fake:
        yield fake


@pytest.fixture(scope="module")
def rasa() -> Iterator[FakeRasa]:
    with FakeRasa() as fake:
        yield fake


def _settings(wechat_api_base_url: str, rasa_url: str, tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        mp_app_id=MP_APP_ID, mp_app_secret=MP_SECRET, session_secret=SESSION_SECRET, session_ttl_seconds=TTL,
        redis_url=REDIS_URL, wechat_api_base_url=wechat_api_base_url, guides_dir=ROOT / "guides", rasa_url=rasa_url,
        database_url=f"sqlite:///{tmp}/bot.db", guides_check_interval=3600,
    )
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def app(wechat_api: FakeWeChatAPI, rasa: FakeRasa, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    from bot.app import create_app

    yield create_app(_settings(wechat_api.url, rasa.url, tmp_path_factory.mktemp("mp")))
    with redis.Redis.from_url(REDIS_URL) as r:
        for key in r.scan_iter(f"{TOKEN_PREFIX}:{MP_APP_ID}*"):
            r.delete(key)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def openid() -> str:
    return f"o{RUN}_{secrets.token_hex(6)}"


def _code(wechat_api: FakeWeChatAPI, openid: str) -> str:
    code = f"code{secrets.token_hex(8)}"
    wechat_api.add_login_code(code, openid)
    return code


def _login(client: TestClient, wechat_api: FakeWeChatAPI, openid: str) -> str:
    response = client.post("/api/v1/auth/login", json={"code": _code(wechat_api, openid)})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _chat(client: TestClient, token: str | None, **body: str) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/chat", json=body, headers=headers)


# --- login -------------------------------------------------------------------------------------------


def test_good_code_gives_a_signed_expiring_token(client: TestClient, wechat_api: FakeWeChatAPI, openid: str) -> None:
    code = _code(wechat_api, openid)
    before = int(time.time())
    response = client.post("/api/v1/auth/login", json={"code": code})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["token_type"] == "Bearer" and data["demo"] is False
    assert data["user_id"] is None  # a real user's openid is not echoed back
    assert "session_key" not in response.text and "openid" not in data
    assert before + TTL <= data["expires_at"] <= int(time.time()) + TTL
    session = SessionSigner(SESSION_SECRET, TTL).verify(data["token"])
    assert session.user_id == openid and not session.demo
    # code2session really went to (fake) WeChat, with our app's credentials.
    assert [c["errcode"] for c in wechat_api.calls() if c.get("code") == code] == [0]


def test_chat_with_the_token_speaks_as_the_openid(client: TestClient, wechat_api: FakeWeChatAPI, rasa: FakeRasa,
                                                  openid: str) -> None:
    token = _login(client, wechat_api, openid)
    response = _chat(client, token, user_id="someone-else", text="新生儿出生")
    assert response.status_code == 200, response.text
    assert response.json()["messages"] == [{"type": "text", "text": "您说的是：新生儿出生", "guide": None}]
    assert rasa.received(openid) == ["新生儿出生"]
    assert rasa.received("someone-else") == []


def test_bad_code_is_401_in_chinese(client: TestClient, wechat_api: FakeWeChatAPI) -> None:
    response = client.post("/api/v1/auth/login", json={"code": f"never-issued-{RUN}"})
    assert response.status_code == 401
    assert CHINESE.search(response.json()["detail"])


def test_a_used_code_is_401(client: TestClient, wechat_api: FakeWeChatAPI, openid: str) -> None:
    code = _code(wechat_api, openid)
    assert client.post("/api/v1/auth/login", json={"code": code}).status_code == 200
    again = client.post("/api/v1/auth/login", json={"code": code})
    assert again.status_code == 401 and CHINESE.search(again.json()["detail"])
    assert [c["errcode"] for c in wechat_api.calls() if c.get("code") == code] == [0, 40163]


def test_a_malformed_code_is_refused_before_wechat(client: TestClient, wechat_api: FakeWeChatAPI) -> None:
    calls = len(wechat_api.calls())
    response = client.post("/api/v1/auth/login", json={"code": "abc&js_code=other"})
    assert response.status_code == 422 and CHINESE.search(response.json()["detail"])
    assert len(wechat_api.calls()) == calls


@pytest.mark.parametrize("token_cached", [True, False], ids=["token-cached", "no-token-yet"])
def test_wechat_down_is_503(client: TestClient, app: FastAPI, wechat_api: FakeWeChatAPI, rasa: FakeRasa, openid: str,
                            tmp_path: Path, token_cached: bool) -> None:
    if token_cached:
        _login(client, wechat_api, openid)  # the mini-program's access_token is now in Redis
        down_app_id, down_secret = MP_APP_ID, MP_SECRET
    else:
        down_app_id, down_secret = f"wxmpdown{RUN}{secrets.token_hex(3)}", "s"
    with FakeWeChatAPI({down_app_id: down_secret}) as down:
        down.add_login_code("code-down", openid)
        settings = _settings(down.url, rasa.url, tmp_path, mp_app_id=down_app_id, mp_app_secret=down_secret)
        mini_program = open_mini_program(settings)
    # The fake is stopped: WeChat's API refuses connections. (app.state is swapped by hand: monkeypatch
    # would delete the attribute on undo, as starlette's State keeps it outside __dict__.)
    original, app.state.mini_program = app.state.mini_program, mini_program
    try:
        started = time.monotonic()
        response = client.post("/api/v1/auth/login", json={"code": "code-down"})
    finally:
        app.state.mini_program = original
    assert response.status_code == 503
    assert CHINESE.search(response.json()["detail"])
    assert time.monotonic() - started < 5
    with redis.Redis.from_url(REDIS_URL) as r:
        for key in r.scan_iter(f"{TOKEN_PREFIX}:wxmpdown{RUN}*"):
            r.delete(key)


# --- chat requires the token -------------------------------------------------------------------------


def test_chat_without_token_is_401(client: TestClient, rasa: FakeRasa, openid: str) -> None:
    response = _chat(client, None, user_id=openid, text="你好")
    assert response.status_code == 401 and CHINESE.search(response.json()["detail"])
    assert rasa.received(openid) == []


def test_expired_token_is_401(client: TestClient, rasa: FakeRasa, openid: str) -> None:
    token, session = SessionSigner(SESSION_SECRET, ttl_seconds=-10).issue(openid)
    assert session.expires_at < time.time()
    response = _chat(client, token, text="你好")
    assert response.status_code == 401 and CHINESE.search(response.json()["detail"])
    assert rasa.received(openid) == []


@pytest.mark.parametrize("forge", ["other-secret", "alg-none", "tampered-subject", "garbage"])
def test_forged_token_is_401(client: TestClient, wechat_api: FakeWeChatAPI, rasa: FakeRasa, openid: str, forge: str) -> None:
    victim = f"o{RUN}_victim_{secrets.token_hex(3)}"
    now = int(time.time())
    claims = {"sub": victim, "demo": False, "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
    if forge == "other-secret":
        token = SessionSigner("another secret that is also long enough, but not ours", 600).issue(victim)[0]
    elif forge == "alg-none":
        token = jwt.encode(claims, None, algorithm="none")
    elif forge == "tampered-subject":
        header, _, signature = _login(client, wechat_api, openid).split(".")
        token = ".".join([header, jwt.encode(claims, "k" * 32, algorithm="HS256").split(".")[1], signature])
    else:
        token = "not.a.token"
    response = _chat(client, token, text="查一下我的投诉")
    assert response.status_code == 401 and CHINESE.search(response.json()["detail"])
    assert rasa.received(victim) == []


def test_wrong_authorization_scheme_is_401(client: TestClient, wechat_api: FakeWeChatAPI, rasa: FakeRasa, openid: str) -> None:
    token = _login(client, wechat_api, openid)
    response = client.post("/api/v1/chat", json={"text": "你好"}, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 401
    assert rasa.received(openid) == []


def test_demo_token_works_and_is_marked_demo(client: TestClient, rasa: FakeRasa) -> None:
    response = client.post("/api/v1/auth/demo")
    assert response.status_code == 200
    demo = response.json()
    assert demo["demo"] is True and demo["user_id"].startswith("demo-")
    assert SessionSigner(SESSION_SECRET, TTL).verify(demo["token"]).demo is True
    chat = _chat(client, demo["token"], user_id="someone-else", text="退休")
    assert chat.status_code == 200, chat.text
    assert rasa.received(demo["user_id"]) == ["退休"]


def test_login_with_the_token_store_down_is_503(wechat_api: FakeWeChatAPI, rasa: FakeRasa, tmp_path: Path) -> None:
    code = f"code-{secrets.token_hex(6)}"
    wechat_api.add_login_code(code, f"o{secrets.token_hex(8)}")
    settings = _settings(wechat_api.url, rasa.url, tmp_path, redis_url="redis://127.0.0.1:9/0")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/auth/login", json={"code": code})
    assert response.status_code == 503, response.text
    assert "稍后" in response.json()["detail"]
