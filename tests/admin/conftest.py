"""Fixtures for the staff desk: the app over each test's database (SQLite and PostgreSQL), staff
accounts, tickets, and a signed-in browser-like client.

One app is built for the session (reading guides/ takes a while); each test gets a fresh desk state
(its own login limiter and clock), its own database (the complaints fixtures), and its own
TestClient (its own cookies). Redirects are not followed, so every answer can be checked as sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.admin.auth import Desk
from bot.admin.ratelimit import LoginLimiter
from bot.app import create_app
from bot.complaints import service
from bot.complaints import staff as staff_module
from bot.complaints.models import StaffAccount, Ticket
from bot.complaints.rules import Rules
from bot.complaints.staff import create_staff
from bot.config import Settings
from bot.store.db import make_sessionmaker
from tests.complaints.conftest import (  # noqa: F401 (fixtures)
    catalog,
    engine,
    rules,
    session,
)
from tests.store.conftest import postgres_admin, postgres_engine  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "guides"
CLOSED_PORT_URL = "http://127.0.0.1:9"
PASSWORD = "correct horse battery"
BEIJING = timezone(timedelta(hours=8))
POLICE = "县公安局"
LABOUR = "县人社局"
HOTLINE = "县12345热线工作专班"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')


def bj(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A moment given in Beijing time, as the aware UTC datetime the services take."""
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def version_of(html: str) -> str:
    match = _VERSION.search(html)
    assert match, "no version field on the page"
    return match.group(1)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with test-sized costs: the desk's tests sign in hundreds of times (the real costs are
    tested in tests/complaints/test_staff.py; hashes carry their own parameters either way)."""
    monkeypatch.setattr(staff_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def desk_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db = tmp_path_factory.mktemp("admin_app") / "app.db"
    settings = Settings(
        guides_dir=GUIDES, rasa_url=CLOSED_PORT_URL, guides_check_interval=3600, database_url=f"sqlite:///{db}",
        redis_url=None,
    )
    return create_app(settings)


@dataclass
class Clock:
    """The desk's clock, settable by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
def app(desk_app: FastAPI, engine: Engine, clock: Clock) -> Iterator[FastAPI]:  # noqa: F811
    """The app, serving this test's database, with a fresh desk (limiter in memory, the test's clock)."""
    original_engine, original_desk = desk_app.state.engine, desk_app.state.admin
    settings = original_desk.settings
    desk_app.state.engine = engine
    desk_app.state.admin = Desk(
        settings, LoginLimiter(settings.admin_login_max_failures, settings.admin_login_window_minutes * 60), clock=clock,
    )
    yield desk_app
    desk_app.state.engine, desk_app.state.admin = original_engine, original_desk


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(new_client: Callable[[], TestClient]) -> TestClient:
    return new_client()


@pytest.fixture
def add_staff(engine: Engine) -> Callable[..., StaffAccount]:  # noqa: F811
    def add(username: str, department: str, role: str = "staff", password: str = PASSWORD) -> StaffAccount:
        with make_sessionmaker(engine)() as s:
            account = create_staff(s, username, department, password, role)
            s.commit()
            return account

    return add


@pytest.fixture
def staff(add_staff: Callable[..., StaffAccount]) -> dict[str, StaffAccount]:
    """police (县公安局), labour (县人社局), admin (县12345热线工作专班, administrator)."""
    return {
        "police": add_staff("police", POLICE),
        "labour": add_staff("labour", LABOUR),
        "admin": add_staff("admin", HOTLINE, "admin"),
    }


def login(client: TestClient, username: str, password: str = PASSWORD, next_path: str | None = None) -> httpx.Response:
    page = client.get("/admin/login")
    assert page.status_code == 200
    data = {"csrf": csrf_of(page.text), "username": username, "password": password}
    if next_path:
        data["next"] = next_path
    return client.post("/admin/login", data=data)


@pytest.fixture
def signed_in(new_client: Callable[[], TestClient], staff: dict[str, StaffAccount]) -> Callable[[str], TestClient]:
    """``signed_in("police")``: a new client with that account's session."""

    def make(username: str) -> TestClient:
        client = new_client()
        response = login(client, username)
        assert response.status_code == 303, response.text
        return client

    return make


@dataclass
class Tickets:
    """Make tickets in the test's database, already routed to the departments wanted."""

    session: Session
    rules: Rules
    counter: int = 0

    def make(
        self,
        departments: list[str] | None = None,
        *,
        text: str = "在窗口办事被要求跑了好几趟，材料一直说不全",
        user_id: str = "citizen-1",
        phone: str | None = "+8613812345678",
        channel: str = "web",
        now: datetime | None = None,
    ) -> Ticket:
        """A ticket accepted at ``now``: 已转办 to ``departments``, or (None) 已受理 as the rules routed it."""
        self.counter += 1
        submission = service.Submission(
            user_id=user_id, channel=channel, idempotency_key=f"k{self.counter}", text=text, phone=phone,
        )
        ticket, _ = service.create_ticket(self.session, submission, rules=self.rules, now=now)
        if departments is not None:
            admin = service.Actor("staff", "seed-admin", HOTLINE, admin=True)
            service.transfer(self.session, ticket, admin, departments, now=now)
        self.session.commit()
        return ticket


@pytest.fixture
def tickets(session: Session, rules: Rules) -> Tickets:  # noqa: F811
    return Tickets(session, rules)
