"""Fixtures for the storage tests: every database test runs on SQLite and on PostgreSQL.

SQLite: a fresh file per test under tmp_path (in a directory that does not exist yet: make_engine
creates it). PostgreSQL, on the server of ``STORE_TEST_POSTGRES_URL`` (default
postgresql+psycopg://localhost/test): databases named ``store_test_<pid>_<random>``, created for
this run and dropped at its end, so repeated or concurrent runs never share tables. The migration
tests get a new empty one each; the other tests share one migrated database per run and empty
the table after each test. If the server does not answer, the PostgreSQL cases are skipped.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bot.channels import messages as m
from bot.store.db import make_engine, make_sessionmaker, normalize_url, upgrade_database

POSTGRES_URL = os.environ.get("STORE_TEST_POSTGRES_URL", "postgresql+psycopg://localhost/test")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the PostgreSQL test server (for CREATE/DROP DATABASE), or a skip."""
    url = normalize_url(POSTGRES_URL)
    engine = create_engine(
        url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        pytest.skip(
            f"PostgreSQL not reachable at {url.render_as_string(hide_password=True)} ({reason}); "
            "start it or set STORE_TEST_POSTGRES_URL"
        )
    yield engine
    engine.dispose()


@contextmanager
def _postgres_database(admin: Engine) -> Iterator[URL]:
    """A new, empty database with a unique name on the test server, dropped afterwards."""
    name = f"store_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """The URL of an empty database (no tables), new for each test: for the migration tests."""
    if request.param == "sqlite":
        yield make_url(f"sqlite:///{tmp_path / 'var' / 'yishiban.db'}")
        return
    with _postgres_database(request.getfixturevalue("postgres_admin")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_engine(postgres_admin: Engine) -> Iterator[Engine]:
    """One migrated PostgreSQL database for the whole run (creating one per test is slow)."""
    with _postgres_database(postgres_admin) as url:
        upgrade_database(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def empty_postgres(engine: Engine) -> None:
    """Every table but Alembic's emptied, identities restarted: no test sees another's rows."""
    with engine.begin() as connection:
        tables = connection.scalars(text(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'alembic_version'"
        )).all()
        if tables:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@contextmanager
def migrated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The body of every area's ``engine`` fixture (parametrized over sqlite and postgresql).

    SQLite: a fresh file per test, migrated the way the app does it. PostgreSQL: the run's one
    migrated database (``postgres_engine``; creating one per test is slow), emptied afterwards.
    """
    if request.param == "sqlite":
        url = make_url(f"sqlite:///{tmp_path / 'var' / 'yishiban.db'}")
        upgrade_database(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    engine = request.getfixturevalue("postgres_engine")
    try:
        yield engine
    finally:
        empty_postgres(engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database at the latest migration."""
    with migrated_engine(request, tmp_path) as engine:
        yield engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


def _checklist(title: str = "新生儿出生一件事", guide_id: str = "newborn") -> m.ChecklistMessage:
    """A small notice with every kind of material: 免, 容缺, 需提交, conditional."""
    return m.ChecklistMessage(
        guide=m.GuideRef(id=guide_id, title=title),
        items=[
            m.ChecklistItem(id="birth_certificate", title="《出生医学证明》办理（首签）", dept="县卫健委", time_limit_days=1),
            m.ChecklistItem(id="hukou_registration", title="户口登记", dept="县公安局", time_limit_days=3),
        ],
        materials=[
            m.ChecklistMaterial(
                id="parents_id_card", name="父母双方居民身份证", exempt=True,
                exempt_reason="已共享居民身份证电子证照（县公安局），免提交", deferrable=False,
                copies=1, form="原件", for_items=["出生医学证明", "户口登记"],
            ),
            m.ChecklistMaterial(
                id="baby_photo", name="新生儿近期彩色免冠照片（电子版）", exempt=False, deferrable=True,
                deferrable_note="可在领取社会保障卡前补传", copies=1, form="电子版", for_items=["户口登记"],
            ),
            m.ChecklistMaterial(
                id="application_form", name="新生儿出生“一件事”联办申请表", exempt=False, deferrable=False,
                copies=2, form="纸质原件", note="窗口现场填写", for_items=["出生医学证明"],
            ),
            m.ChecklistMaterial(
                id="nonmarital_statement", name="非婚生育说明", exempt=False, deferrable=False,
                copies=1, form="原件及复印件", conditional=True, for_items=["户口登记"],
            ),
        ],
        stats=m.ChecklistStats(total=4, exempt=1, to_submit=3, deferrable=1),
        time_limit_days=5,
        where=m.Where(
            window="县政务服务中心一楼“一件事”综合窗口", address="人民路88号", hours="工作日 9:00-17:00",
            online="豫事办APP“一件事”专区", phone="0371-12345678",
        ),
        fees="不收费",
        delivery=["窗口领取", "免费邮寄"],
        not_applicable=[m.NotApplicable(id="abroad", title="境外出生", note="请到出入境窗口咨询")],
        answers=[m.AnswerShown(question="父母是否已婚？", answer="已婚")],
        sample_notice="您申请的新生儿出生一件事已受理。\n请于5个工作日后凭短信领取结果。",
    )


@pytest.fixture
def make_checklist():
    """``make_checklist(title=..., guide_id=...)``: a ChecklistMessage to store."""
    return _checklist
