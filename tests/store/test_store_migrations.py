"""The schema is made by Alembic only: upgrade from empty, downgrade to base, and no drift."""

from __future__ import annotations

import io

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, inspect, text
from sqlalchemy.pool import NullPool

from bot.config import ROOT
from bot.store.db import alembic_config, downgrade_database, make_engine, normalize_url, upgrade_database
from bot.store.models import Base


def _head() -> set[str]:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert heads
    return heads


def _current(url: URL) -> set[str] | None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) or None
    finally:
        engine.dispose()


def _tables(url: URL) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_base(database_url: URL) -> None:
    assert _tables(database_url) == set()

    upgrade_database(database_url)
    assert _current(database_url) == _head()
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        assert {"notices", "alembic_version"} <= set(insp.get_table_names())
        columns = {c["name"]: c for c in insp.get_columns("notices")}
        assert set(columns) == {
            "id", "user_id", "guide_id", "guide_title", "guide_version", "items", "answers", "checklist", "created_at",
        }
        assert columns["guide_version"]["nullable"] is True
        assert all(not c["nullable"] for name, c in columns.items() if name != "guide_version")
        assert insp.get_pk_constraint("notices")["constrained_columns"] == ["id"]
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("notices")}
        assert indexes == {
            "ix_notices_user_id_created_at": ["user_id", "created_at"],
            "ix_notices_guide_id": ["guide_id"],
        }
    finally:
        engine.dispose()

    upgrade_database(database_url)  # idempotent: a second start-up changes nothing
    assert _current(database_url) == _head()

    downgrade_database(database_url, "base")
    assert _current(database_url) is None
    assert "notices" not in _tables(database_url)

    upgrade_database(database_url)  # and back again
    assert "notices" in _tables(database_url)


def test_models_match_the_migrations(database_url: URL) -> None:
    """What autogenerate would write after the migrations: nothing (types compared too)."""
    upgrade_database(database_url)
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_migrations_on_a_caller_connection(database_url: URL) -> None:
    """config.attributes["connection"]: the migration joins the caller's transaction."""
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection=connection), "heads")
        assert "notices" in _tables(database_url)
    finally:
        engine.dispose()


def test_alembic_ini_and_database_url_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The command-line path: alembic.ini at the root, the URL from DATABASE_URL."""
    db = tmp_path / "cli" / "bot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False  # keep pytest's logging set-up
    command.upgrade(config, "heads")
    assert db.exists()
    assert "notices" in _tables(normalize_url(f"sqlite:///{db}"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [("sqlite:///unused.db", "CREATE TABLE notices"), ("postgresql://localhost/unused", "JSONB")],
)
def test_offline_sql(url: str, expected: str) -> None:
    """`alembic upgrade head --sql` renders the DDL without a database."""
    buffer = io.StringIO()
    config = alembic_config(url)
    config.output_buffer = buffer
    command.upgrade(config, "heads", sql=True)
    sql = buffer.getvalue()
    assert expected in sql
    assert "ix_notices_user_id_created_at" in sql


def test_sqlite_engine_settings(tmp_path) -> None:
    db = tmp_path / "not" / "yet" / "there.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            connection.execute(text("CREATE TABLE scratch (x INTEGER)"))
            connection.rollback()  # DDL is transactional: a failed migration leaves nothing behind
        assert db.parent.is_dir()
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_postgres_urls_use_psycopg() -> None:
    assert normalize_url("postgresql://localhost/x").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u:p%40ss@h/x").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://localhost/x").drivername == "postgresql+psycopg"
    engine = make_engine("postgresql://localhost/x")  # no connection is made
    try:
        assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_one_head() -> None:
    """Branches made side by side are joined by a merge revision before they land together."""
    assert len(_head()) == 1, _head()
