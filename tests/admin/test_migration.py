"""The staff desk migration: staff_sessions and citizen_notifications, and the way back."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import URL, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from bot.store.db import downgrade_database, make_engine, upgrade_database
from bot.store.models import Base
from tests.store.conftest import _postgres_database, database_url, postgres_admin  # noqa: F401 (fixtures)

PREVIOUS = "3c1f6b8e2a47"  # complaints


def _tables(url: URL) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_desk_tables_and_downgrade_removes_them(database_url: URL) -> None:  # noqa: F811
    upgrade_database(database_url)
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        assert {"staff_sessions", "citizen_notifications"} <= set(insp.get_table_names())
        assert [u["column_names"] for u in insp.get_unique_constraints("staff_sessions")] == [["token_hash"]]
        [fk] = insp.get_foreign_keys("staff_sessions")
        assert (fk["referred_table"], fk["options"].get("ondelete")) == ("staff_accounts", "CASCADE")
        assert {i["name"]: i["column_names"] for i in insp.get_indexes("citizen_notifications")}.items() >= {
            "ix_citizen_notifications_user_id_status": ["user_id", "status"],
        }.items()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            with pytest.raises(IntegrityError, match="ck_citizen_notifications_status"):  # CHECK holds without the ORM
                connection.execute(text(
                    "INSERT INTO citizen_notifications (user_id, channel, kind, ticket_id, event_seq, text, status, created_at) "
                    "VALUES ('u', 'web', 'answered', 1, 1, 't', 'lost', CURRENT_TIMESTAMP)"
                ))
    finally:
        engine.dispose()
    downgrade_database(database_url, PREVIOUS)
    tables = _tables(database_url)
    assert "tickets" in tables and not {"staff_sessions", "citizen_notifications"} & tables
    upgrade_database(database_url)
    assert {"staff_sessions", "citizen_notifications"} <= _tables(database_url)
