"""Session tokens (bot/api/sessions.py) and the demo identity of the /chat page."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.api.sessions import AUDIENCE, ISSUER, InvalidSession, SessionSigner

ANSWER = [{"text": "您好"}]
SECRET = "a test secret of at least thirty-two bytes"
OTHER_SECRET = "another secret, just as long as the first one"


def _swap_subject(token: str, subject: str) -> str:
    """The same signature over a payload naming somebody else."""
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "sub": subject}, SECRET, algorithm="HS256").split(".")[1]
    return ".".join([header, forged, signature])


def test_issue_and_verify_round_trip() -> None:
    signer = SessionSigner(SECRET, ttl_seconds=60)
    token, session = signer.issue("oOPENID123")
    verified = signer.verify(token)
    assert verified.user_id == "oOPENID123" and not verified.demo
    assert verified.expires_at == session.expires_at


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: SessionSigner(OTHER_SECRET, 60).issue("oOPENID123")[0], id="forged-other-secret"),
        pytest.param(lambda: jwt.encode({"sub": "oX", "iat": 1, "exp": int(time.time()) - 5, "iss": ISSUER, "aud": AUDIENCE},
                                        SECRET, algorithm="HS256"), id="expired"),
        pytest.param(lambda: _swap_subject(SessionSigner(SECRET, 60).issue("oOPENID123")[0], "oSOMEONE_ELSE"), id="tampered"),
        pytest.param(lambda: jwt.encode({"sub": "oX", "iat": 1, "exp": int(time.time()) + 60, "iss": ISSUER, "aud": "other"},
                                        SECRET, algorithm="HS256"), id="wrong-audience"),
        # “none” algorithm: an unsigned token must never pass.
        pytest.param(lambda: jwt.encode({"sub": "oX", "iat": 1, "exp": int(time.time()) + 60, "iss": ISSUER, "aud": AUDIENCE},
                                        None, algorithm="none"), id="alg-none"),
        # A real user's id claimed as a demo identity, and the reverse.
        pytest.param(lambda: jwt.encode({"sub": "oX", "demo": True, "iat": 1, "exp": int(time.time()) + 60, "iss": ISSUER,
                                         "aud": AUDIENCE}, SECRET, algorithm="HS256"), id="demo-flag-on-openid"),
        pytest.param(lambda: "not-a-token", id="garbage"),
    ],
)
def test_bad_tokens_are_refused(make_token: Callable[[], str]) -> None:
    with pytest.raises(InvalidSession):
        SessionSigner(SECRET, ttl_seconds=60).verify(make_token())


def test_demo_identity_is_marked_and_anonymous(client: TestClient) -> None:
    response = client.post("/api/v1/auth/demo")
    assert response.status_code == 200
    data = response.json()
    assert data["demo"] is True and data["user_id"].startswith("demo-")
    assert data["expires_at"] > time.time()


def test_chat_takes_the_user_from_the_token(client: TestClient, fake_rasa: Callable) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=ANSWER))
    demo = client.post("/api/v1/auth/demo").json()
    # A user_id in the body does not override the token's user.
    response = client.post("/api/v1/chat", json={"user_id": "someone-else", "text": "你好"},
                           headers={"Authorization": f"Bearer {demo['token']}"})
    assert response.status_code == 200, response.text
    assert sent[-1]["sender"] == demo["user_id"]


def test_chat_without_token_still_works_without_mini_program(client: TestClient, fake_rasa: Callable) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=ANSWER))
    response = client.post("/api/v1/chat", json={"user_id": "web-1", "text": "你好"})
    assert response.status_code == 200 and sent[-1]["sender"] == "web-1"
    missing = client.post("/api/v1/chat", json={"text": "你好"})
    assert missing.status_code == 422 and "user_id" in missing.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer forged.token.here", "Basic dXNlcjpwYXNz", "Bearer", "Bearer "])
def test_chat_with_a_bad_token_is_401_in_chinese(client: TestClient, header: str) -> None:
    response = client.post("/api/v1/chat", json={"text": "你好"}, headers={"Authorization": header})
    assert response.status_code == 401
    assert "登录" in response.json()["detail"]


def test_login_without_mini_program_configured_is_404(client: TestClient, app: FastAPI) -> None:
    response = client.post("/api/v1/auth/login", json={"code": "abc"})
    assert response.status_code == 404 and "MP_APP_ID" in response.json()["detail"]
