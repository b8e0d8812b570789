"""Fixtures of the guide editor's tests: the desk app with a catalog of its own test's database,
editor accounts of two departments, and signed-in clients that know their CSRF token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bot.complaints.staff import create_staff
from bot.guides.catalog import CatalogStore
from bot.guides.versions import DatabaseSource
from bot.store.db import make_sessionmaker
from tests.admin.conftest import GUIDES, PASSWORD, login

HEALTH = "县卫健委"  # leads newborn (新生儿出生一件事)
POLICE = "县公安局"
HOTLINE = "县12345热线工作专班"




@pytest.fixture
def guide_app(app: FastAPI, engine: Engine) -> Iterator[FastAPI]:
    """The desk app whose catalog reads this test's database (a fresh snapshot, restored after)."""
    original = app.state.catalog_store
    app.state.catalog_store = CatalogStore(GUIDES, 3600, DatabaseSource(lambda: app.state.engine))
    yield app
    app.state.catalog_store = original


@pytest.fixture
def editors(engine: Engine) -> dict[str, str]:
    """health (县卫健委, editor), police (县公安局, editor), clerk (县卫健委, no editor right), admin."""
    with make_sessionmaker(engine)() as session:
        create_staff(session, "health", HEALTH, PASSWORD, guide_editor=True)
        create_staff(session, "police_ed", POLICE, PASSWORD, guide_editor=True)
        create_staff(session, "clerk", HEALTH, PASSWORD)
        create_staff(session, "boss", HOTLINE, PASSWORD, "admin")
        session.commit()
    return {"health": "health", "police": "police_ed", "clerk": "clerk", "admin": "boss"}


@dataclass
class Editor:
    client: TestClient
    csrf: str

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.client.get(url, **kwargs)  # type: ignore[arg-type]

    def post(self, url: str, data: dict[str, object] | None = None) -> httpx.Response:
        """A page form, with the session's CSRF token."""
        return self.client.post(url, data={"csrf": self.csrf, **(data or {})})

    def api(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sign_in(guide_app: FastAPI, editors: dict[str, str]) -> Iterator[Callable[[str], Editor]]:
    clients: list[TestClient] = []

    def make(who: str) -> Editor:
        client = TestClient(guide_app, raise_server_exceptions=False, follow_redirects=False)
        clients.append(client)
        assert login(client, editors[who]).status_code == 303
        listing = client.get("/admin/api/guides")
        assert listing.status_code == 200, listing.text
        return Editor(client, listing.json()["csrf"])

    yield make
    for client in clients:
        client.close()
