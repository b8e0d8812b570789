"""Fixtures for the push tests: the loopback fake of WeChat's API, real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from bot.channels.wechat.client import SharedTokenClient
from tests.complaints.conftest import rules  # noqa: F401 (fixtures)
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.store.conftest import (  # noqa: F401 (fixtures)
    database_url,
    migrated_engine,
    postgres_admin,
    postgres_engine,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN = secrets.token_hex(3)
OA_APP, MP_APP, SECRET = f"wxoa{RUN}", f"wxmp{RUN}", f"secret{RUN}"


@pytest.fixture(scope="session")
def wechat_api() -> Iterator[FakeWeChatAPI]:
    with FakeWeChatAPI({OA_APP: SECRET, MP_APP: SECRET}) as fake:
        yield fake


@pytest.fixture
def fake(wechat_api: FakeWeChatAPI) -> FakeWeChatAPI:
    wechat_api.reset()
    return wechat_api


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    value = "test-push-" + secrets.token_hex(4)
    yield value
    with redis.Redis.from_url(REDIS_URL) as r:
        for key in r.scan_iter(f"{value}*"):
            r.delete(key)


@pytest.fixture
def sync_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def official_account(fake: FakeWeChatAPI, sync_redis: redis.Redis) -> SharedTokenClient:
    return SharedTokenClient(OA_APP, SECRET, fake.url, sync_redis)


@pytest.fixture
def mini_program(fake: FakeWeChatAPI, sync_redis: redis.Redis) -> SharedTokenClient:
    return SharedTokenClient(MP_APP, SECRET, fake.url, sync_redis)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database with no tickets, notifications or pushes."""
    with migrated_engine(request, tmp_path) as engine:
        yield engine
