"""The complaints migration: tables, constraints, the append-only triggers, and the way back."""

from __future__ import annotations

import io

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import URL, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from bot.store.db import alembic_config, downgrade_database, make_engine, upgrade_database
from bot.store.models import Base

PREVIOUS = "f556d6edca36"  # create notices
THIS = "3c1f6b8e2a47"


def test_upgrade_creates_the_complaint_tables_and_downgrade_removes_them(database_url: URL) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        insp = inspect(engine)
        assert {"tickets", "ticket_events", "staff_accounts", "notices"} <= set(insp.get_table_names())
        assert {u["name"]: u["column_names"] for u in insp.get_unique_constraints("tickets")} == {
            "uq_tickets_no": ["no"],
            "uq_tickets_user_id_idempotency_key": ["user_id", "idempotency_key"],
        }
        assert {i["name"]: i["column_names"] for i in insp.get_indexes("tickets")}.items() >= {
            "ix_tickets_user_id_accepted_at": ["user_id", "accepted_at"],
            "ix_tickets_status_deadline": ["status", "deadline"],
        }.items()
        assert [u["column_names"] for u in insp.get_unique_constraints("ticket_events")] == [["ticket_id", "seq"]]
        [fk] = insp.get_foreign_keys("ticket_events")
        assert (fk["referred_table"], fk["constrained_columns"]) == ("tickets", ["ticket_id"])
        assert [u["column_names"] for u in insp.get_unique_constraints("staff_accounts")] == [["username"]]
        nullable = {c["name"] for c in insp.get_columns("tickets") if c["nullable"]}
        assert nullable == {
            "subject", "guide_id", "guide_title", "place", "phone", "answer", "answered_at", "answered_by", "rating",
            "rated_at", "escalated_for", "closed_at",
        }
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            with pytest.raises(IntegrityError):  # CHECK constraints hold without the ORM too
                connection.execute(text("INSERT INTO staff_accounts (username, department, role, password_hash, active, "
                                        "created_at, updated_at) VALUES ('x', 'd', 'root', 'h', true, "
                                        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    finally:
        engine.dispose()

    downgrade_database(database_url, PREVIOUS)
    tables = _tables(database_url)
    assert "notices" in tables and not {"tickets", "ticket_events", "staff_accounts"} & tables
    upgrade_database(database_url)  # and forward again: the trigger function was dropped with it
    assert {"tickets", "ticket_events", "staff_accounts"} <= _tables(database_url)


def _tables(url: URL) -> set[str]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"), [("sqlite:///unused.db", "RAISE(ABORT"), ("postgresql://localhost/unused", "plpgsql")]
)
def test_offline_sql_has_the_triggers(url: str, expected: str) -> None:
    buffer = io.StringIO()
    config = alembic_config(url)
    config.output_buffer = buffer
    command.upgrade(config, f"{PREVIOUS}:{THIS}", sql=True)
    sql = buffer.getvalue()
    assert "CREATE TABLE tickets" in sql and "CREATE TABLE ticket_events" in sql and "CREATE TABLE staff_accounts" in sql
    assert expected in sql
