"""The guide versions migration: its tables, the editor right on staff accounts, and the way back."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import URL, inspect
from sqlalchemy.pool import NullPool

from bot.store.db import downgrade_database, make_engine, upgrade_database
from bot.store.models import Base
from tests.store.conftest import _postgres_database, database_url, postgres_admin  # noqa: F401 (fixtures)

TABLES = {"content_revisions", "content_drafts", "audit_log"}


def _inspect(url: URL) -> tuple[set[str], set[str]]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        return set(insp.get_table_names()), {c["name"] for c in insp.get_columns("staff_accounts")}
    finally:
        engine.dispose()


def test_upgrade_and_downgrade(database_url: URL) -> None:  # noqa: F811
    upgrade_database(database_url)
    tables, columns = _inspect(database_url)
    assert tables >= TABLES and "guide_editor" in columns
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("content_revisions")}
        assert ("kind", "doc_id", "number") in uniques
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        mine = [d for d in diff if any(t in str(d) for t in (*TABLES, "guide_editor"))]
        assert mine == []
    finally:
        engine.dispose()
    downgrade_database(database_url, "9d4e7a1c5b20")
    tables, columns = _inspect(database_url)
    assert not TABLES & tables and "guide_editor" not in columns
    upgrade_database(database_url)
    assert _inspect(database_url)[0] >= TABLES
