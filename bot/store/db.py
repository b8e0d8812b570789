"""Database engine, sessions, schema upgrades and the FastAPI session dependency.

Wiring (in ``bot/app.py``): create the engine once per process, bring the schema to the latest
migration at start-up, and dispose of the engine at shutdown::

    app.state.engine = make_engine(settings.database_url)            # in create_app
    await asyncio.to_thread(upgrade_database, settings.database_url)  # in lifespan, before yield
    app.state.engine.dispose()                                        # in lifespan, after yield

Routes then take a session with ``session: SessionDep`` (or ``Depends(get_session)``). The
schema is only ever created by Alembic (``upgrade_database``), never by ``metadata.create_all``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Chinese text stays readable in the SQLite file (and in psql), not \uXXXX escapes.
_json_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def normalize_url(url: str | URL) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the only PostgreSQL driver installed."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_sqlite_file(url: URL) -> bool:
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions start (see the "begin"
    # listener): the module's legacy mode commits around DDL, so a failed migration would leave
    # half a schema behind. With this, DDL is transactional like on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster than FULL
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An Engine for ``url``, set up for the backend.

    SQLite (file): the parent directory is created; each connection gets WAL, foreign keys, a
    busy timeout and real transactions (DDL included). PostgreSQL: ``pool_pre_ping`` so a
    restarted server does not fail the first request. Both: JSON written as UTF-8 text, and SQL
    parameters hidden from exceptions and logs. Extra ``kwargs`` go to ``create_engine``.
    """
    parsed = normalize_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    # Statement parameters hold user ids and answers: keep them out of error messages and logs.
    kwargs.setdefault("hide_parameters", True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if _is_sqlite_file(parsed):
            Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("check_same_thread", False)  # FastAPI runs sync routes in a thread pool
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (objects are returned to the caller)."""
    return sessionmaker(engine, expire_on_commit=False)


# --- Alembic ------------------------------------------------------------------------------


def alembic_config(url: str | URL | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic Config for programmatic runs, independent of the working directory.

    The URL (or an open connection) travels in ``config.attributes``, which env.py reads first;
    this avoids alembic.ini's %-interpolation mangling passwords. Without either, env.py falls
    back to ``DATABASE_URL`` / Settings, like the ``alembic`` command line does.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def begin_write(session: Session) -> None:
    """Call first in a transaction that reads rows and then changes them.

    SQLite (WAL) cannot turn a read transaction into a write one once another connection has
    written since the read began: it fails at once with "database is locked", busy timeout or
    not. Taking the write lock first (a write that touches no row; the lock is the whole
    database's) makes a concurrent request wait its turn and then read fresh rows, as
    PostgreSQL's row locks and version checks do there. On PostgreSQL this does nothing.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0"))


def upgrade_database(url: str | URL, revision: str = "heads") -> None:
    """Create or upgrade the schema to ``revision`` (``alembic upgrade heads``). Idempotent.

    ``heads``, not ``head``: capabilities developed side by side may each add a migration on the
    same parent (an Alembic branch) until a merge revision joins them; start-up applies them all.
    """
    command.upgrade(alembic_config(url), revision)


def downgrade_database(url: str | URL, revision: str = "base") -> None:
    """Downgrade the schema to ``revision``; ``base`` drops every table the migrations made."""
    command.downgrade(alembic_config(url), revision)


# --- FastAPI ------------------------------------------------------------------------------


def get_session(request: Request) -> Iterator[Session]:
    """A Session per request, on the engine the app created at start-up (``app.state.engine``).

    Nothing is committed for you: a route that writes calls ``session.commit()`` itself. The
    session is closed (and anything uncommitted rolled back) when the request ends.
    """
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise RuntimeError("app.state.engine is not set: create_app must set it with bot.store.db.make_engine")
    with Session(engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
