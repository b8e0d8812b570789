"""Fixtures for the 免申即享 tests: storage on SQLite and on PostgreSQL, like tests/complaints.

PostgreSQL (skipped when no server answers, see tests/store/conftest.py): one migrated database
for the run, emptied after each test with TRUNCATE. SQLite: a fresh migrated file per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import URL, Engine, make_url, text

from bot.app import create_app
from bot.config import Settings
from bot.policies.catalog import PolicyCatalog, build_policy_catalog
from bot.store.db import make_engine, upgrade_database
from tests.store.conftest import _postgres_database, postgres_admin  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "guides"
TODAY = date(2026, 11, 22)  # the sample policies' windows are around this day
TABLES = (
    "policy_notifications", "policy_match_events", "policy_near_misses", "policy_matches", "policy_match_runs",
    "enterprise_binding_challenges", "enterprise_bindings", "enterprise_lists", "enterprises",
)


@pytest.fixture(scope="session")
def policies_postgres_engine(postgres_admin: Engine) -> Iterator[Engine]:  # noqa: F811
    with _postgres_database(postgres_admin) as url:
        upgrade_database(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _sqlite_engine(path: Path) -> Engine:
    url: URL = make_url(f"sqlite:///{path}")
    upgrade_database(url)
    return make_engine(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database at the latest migration."""
    if request.param == "sqlite":
        engine = _sqlite_engine(tmp_path / "policies.db")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("policies_postgres_engine")
    yield engine
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


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
