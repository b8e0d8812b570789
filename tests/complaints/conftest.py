"""Fixtures for the complaint tests: storage on SQLite and on PostgreSQL, like tests/store.

The databases come from tests/store/conftest.py (migrated_engine; PostgreSQL is skipped when no
server answers).
The API tests share one app (building it reads every guide) and point it at each test's database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.complaints.rules import RULES_FILE, Rules, load_rules
from bot.config import Settings
from bot.guides.catalog import Catalog, build_catalog
from bot.store.db import make_sessionmaker
from tests.store.conftest import (  # noqa: F401 (fixtures)
    database_url,
    migrated_engine,
    postgres_admin,
    postgres_engine,
)

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "guides"
CLOSED_PORT_URL = "http://127.0.0.1:9"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database at the latest migration, with no tickets or staff."""
    with migrated_engine(request, tmp_path) as engine:
        yield engine


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
