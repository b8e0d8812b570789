"""Fixtures for the complaint tests: storage on SQLite and on PostgreSQL, like tests/store.

The PostgreSQL server and the throw-away databases come from tests/store/conftest.py (skipped when
no server answers). SQLite: a fresh migrated file per test. PostgreSQL: one migrated database for
the run, emptied after each test with TRUNCATE (ticket_events refuses DELETE by design).
The API tests share one app (building it reads every guide) and point it at each test's database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import URL, Engine, make_url, text
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.complaints.rules import RULES_FILE, Rules, load_rules
from bot.config import Settings
from bot.guides.catalog import Catalog, build_catalog
from bot.store.db import make_engine, make_sessionmaker, upgrade_database
from tests.store.conftest import _postgres_database, database_url, postgres_admin  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "guides"
CLOSED_PORT_URL = "http://127.0.0.1:9"
TABLES = ("ticket_events", "tickets", "staff_accounts")


@pytest.fixture(scope="session")
def complaints_postgres_url(postgres_admin: Engine) -> Iterator[URL]:  # noqa: F811
    with _postgres_database(postgres_admin) as url:
        upgrade_database(url)
        yield url


@pytest.fixture(scope="session")
def complaints_postgres_engine(complaints_postgres_url: URL) -> Iterator[Engine]:
    engine = make_engine(complaints_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database at the latest migration, with no tickets or staff."""
    if request.param == "sqlite":
        url = make_url(f"sqlite:///{tmp_path / 'var' / 'complaints.db'}")
        upgrade_database(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("complaints_postgres_engine")
    yield engine
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture(scope="session")
def rules() -> Rules:
    data, problems = load_rules(GUIDES / RULES_FILE)
    assert problems == []
    return Rules(data, "test")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return build_catalog(GUIDES)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db = tmp_path_factory.mktemp("complaints_app") / "app.db"
    settings = Settings(
        guides_dir=GUIDES, rasa_url=CLOSED_PORT_URL, guides_check_interval=3600, database_url=f"sqlite:///{db}",
    )
    return create_app(settings)


@pytest.fixture(scope="session")
def app_client(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: an unhandled error must show up as the 500 a user would get.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(app: FastAPI, app_client: TestClient, engine: Engine) -> Iterator[TestClient]:
    """The app's client, its requests served from this test's database."""
    original = app.state.engine
    app.state.engine = engine
    yield app_client
    app.state.engine = original
