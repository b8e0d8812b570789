"""Alembic environment for the bot's database (SQLite or PostgreSQL).

Where the database comes from, first match wins:
1. ``config.attributes["connection"]``: an open SQLAlchemy Connection (programmatic runs that
   want to share a transaction; the caller commits);
2. ``config.attributes["url"]``: a URL string or ``sqlalchemy.URL`` (``bot.store.db.upgrade_database``);
3. ``-x url=...`` on the command line;
4. the ``DATABASE_URL`` environment variable;
5. ``bot.config.Settings().database_url`` (which also reads .env; default: var/yishiban.db).
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import URL, Connection, pool, text

from bot.config import Settings
from bot.store.db import make_engine, normalize_url
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata

# Only the command line configures logging from alembic.ini; programmatic runs (the app, tests)
# have no config file, or set attributes["configure_logger"] = False, and keep their logging.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Any constant: serializes concurrent `upgrade` runs (several workers starting at once) on PostgreSQL.
_PG_MIGRATION_LOCK = 0x59_5342_4D49_47  # "YSBMIG"


def _url() -> str | URL:
    return (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DATABASE_URL")
        or Settings().database_url
    )


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    url = normalize_url(_url())
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place; batch mode lets later migrations change columns.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
