"""The FastAPI app over the real guides/, with Rasa on a closed port (127.0.0.1:9).

Building the app reads guides/ (a couple of seconds), so one app and one TestClient serve the
whole session. Anything that reaches Rasa fails to connect and must come back as 503, never 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.channels.rasa import RasaClient
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_URL = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app(Settings(guides_dir=ROOT / "guides", rasa_url=CLOSED_PORT_URL, guides_check_interval=3600))


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: an unhandled error must show up as the 500 a user would get.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def fake_rasa(client: TestClient, app: FastAPI) -> Iterator[Callable[[Callable[[httpx.Request], httpx.Response]], list[Any]]]:
    """Swap in a Rasa answering through `handler`; returns the list the sent JSON bodies land in."""
    original = app.state.rasa

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> list[Any]:
        sent: list[Any] = []

        def record(request: httpx.Request) -> httpx.Response:
            sent.append(json.loads(request.content))
            return handler(request)

        app.state.rasa = RasaClient("http://rasa.test", client=httpx.AsyncClient(transport=httpx.MockTransport(record)))
        return sent

    yield install
    app.state.rasa = original
