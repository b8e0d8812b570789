"""Fixtures for the 免申即享 tests: storage on SQLite and on PostgreSQL, like tests/complaints.

The databases come from tests/store/conftest.py (migrated_engine; PostgreSQL is skipped when no
server answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bot.app import create_app
from bot.config import Settings
from bot.policies.catalog import PolicyCatalog, build_policy_catalog
from tests.store.conftest import migrated_engine, postgres_admin, postgres_engine  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "guides"
TODAY = date(2026, 11, 22)  # the sample policies' windows are around this day


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database at the latest migration."""
    with migrated_engine(request, tmp_path) as engine:
        yield engine


@pytest.fixture(scope="session")
def catalog() -> PolicyCatalog:
    return build_policy_catalog(GUIDES)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db = tmp_path_factory.mktemp("policies_app") / "app.db"
    settings = Settings(
        guides_dir=GUIDES, rasa_url="http://127.0.0.1:9", guides_check_interval=3600, database_url=f"sqlite:///{db}",
        redis_url=None,
    )
    app = create_app(settings)
    app.state.policy_today = lambda: TODAY
    return app


@pytest.fixture(scope="session")
def app_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(app: FastAPI, app_client: TestClient, engine: Engine) -> Iterator[TestClient]:
    """The app's client, served from this test's database, with a fresh test verifier."""
    from bot.policies.binding import TestVerifier

    original = app.state.engine
    app.state.engine = engine
    app.state.enterprise_verifier = TestVerifier()
    yield app_client
    app.state.engine = original
