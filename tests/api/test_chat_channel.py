"""The channel a message came through reaches Rasa as the REST message's metadata (complaints record it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

ANSWER = [{"text": "好的"}]


def test_web_chat_without_a_token_is_web(client: TestClient, fake_rasa: Callable[..., list[Any]]) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=ANSWER))
    assert client.post("/api/v1/chat", json={"user_id": "web-1", "text": "你好"}).status_code == 200
    assert sent[-1]["metadata"] == {"channel": "web"}


def test_the_demo_identity_is_web(client: TestClient, fake_rasa: Callable[..., list[Any]]) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=ANSWER))
    demo = client.post("/api/v1/auth/demo").json()
    response = client.post("/api/v1/chat", json={"text": "你好"}, headers={"Authorization": f"Bearer {demo['token']}"})
    assert response.status_code == 200, response.text
    assert sent[-1] == {"sender": demo["user_id"], "message": "你好", "metadata": {"channel": "web"}}


def test_a_mini_program_session_is_mp(client: TestClient, app: FastAPI, fake_rasa: Callable[..., list[Any]]) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=ANSWER))
    token, _ = app.state.sessions.issue("oMiniProgramOpenId123")
    response = client.post("/api/v1/chat", json={"payload": "/ask_ticket_status"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert sent[-1] == {"sender": "oMiniProgramOpenId123", "message": "/ask_ticket_status", "metadata": {"channel": "mp"}}
