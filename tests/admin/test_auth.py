"""Signing in to the staff desk: passwords, lock-out, sessions (expiry, logout), CSRF, anonymous access."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from bot.admin.auth import BAD_CREDENTIALS, COOKIE, LOCKED_OUT, Desk
from bot.admin.models import StaffSession
from bot.admin.ratelimit import LoginLimiter
from bot.complaints.models import StaffAccount
from bot.store.db import make_sessionmaker
from tests.admin.conftest import PASSWORD, Clock, csrf_of, login

REDIS_URL = "redis://127.0.0.1:6379/0"


def _sessions(engine: Engine) -> int:
    with make_sessionmaker(engine)() as s:
        return s.scalar(select(func.count()).select_from(StaffSession)) or 0


# --- signing in ------------------------------------------------------------------------------------


def test_good_password_signs_in_with_a_safe_cookie(client: TestClient, staff: dict[str, StaffAccount], engine: Engine) -> None:
    response = login(client, "police")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/complaints"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower() and "path=/admin" in cookie.lower()
    assert "secure" not in attributes  # plain http in the tests; set over https (see test below)
    token = client.cookies.get(COOKIE)
    assert token and len(token) >= 40
    with make_sessionmaker(engine)() as s:
        [row] = s.scalars(select(StaffSession)).all()
        assert row.token_hash != token and len(row.token_hash) == 64  # only the hash is stored
    page = client.get("/admin/complaints")
    assert page.status_code == 200
    assert "police" in page.text and "县公安局" in page.text
    assert client.get("/admin/api/me").json() == {"username": "police", "department": "县公安局", "role": "staff"}


def test_the_cookie_is_secure_behind_https(app: FastAPI, staff: dict[str, StaffAccount]) -> None:
    with TestClient(app, base_url="https://desk.example.cn", follow_redirects=False) as client:
        response = login(client, "police")
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
        assert "secure" in cookie.lower()


def test_username_is_case_insensitive_and_next_is_followed(client: TestClient, staff: dict[str, StaffAccount]) -> None:
    response = login(client, "  POLICE ", next_path="/admin/complaints/stats")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/complaints/stats"


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/chat", "/admin\\..\\x", "javascript:alert(1)"]
)
def test_next_never_leaves_the_desk(client: TestClient, staff: dict[str, StaffAccount], target: str) -> None:
    response = login(client, "police", next_path=target)
    assert response.headers["location"] == "/admin/complaints"


@pytest.mark.parametrize(("username", "password"), [("police", "wrong password!"), ("nobody", PASSWORD), ("police", "")])
def test_bad_credentials_say_the_same_thing(
    client: TestClient, staff: dict[str, StaffAccount], username: str, password: str, engine: Engine
) -> None:
    response = login(client, username, password)
    if password:
        assert response.status_code == 401
        assert BAD_CREDENTIALS in response.text
    else:
        assert response.status_code == 422
        assert "请输入用户名和密码" in response.text
    assert COOKIE not in client.cookies
    assert _sessions(engine) == 0
    assert client.get("/admin/api/me").status_code == 401


def test_an_inactive_account_cannot_sign_in_and_loses_its_sessions(
    new_client: Callable[[], TestClient], staff: dict[str, StaffAccount], engine: Engine
) -> None:
    client = new_client()
    assert login(client, "police").status_code == 303
    with make_sessionmaker(engine)() as s:
        s.execute(update(StaffAccount).where(StaffAccount.username == "police").values(active=False))
        s.commit()
    assert client.get("/admin/api/me").status_code == 401
    response = login(new_client(), "police")
    assert response.status_code == 401 and BAD_CREDENTIALS in response.text


def test_five_failures_lock_the_username_from_that_address(
    new_client: Callable[[], TestClient], staff: dict[str, StaffAccount], app: FastAPI, clock: Clock
) -> None:
    client = new_client()
    for _ in range(5):
        response = login(client, "police", "wrong password!")
        assert response.status_code == 401
        assert BAD_CREDENTIALS in response.text
    # Locked: even the right password is refused, without being checked.
    response = login(client, "police")
    assert response.status_code == 429
    assert LOCKED_OUT in response.text
    assert COOKIE not in client.cookies
    # Another account from the same address is not locked by these five.
    assert login(new_client(), "labour").status_code == 303
    # The window passes: the right password works again and clears the count.
    limiter: LoginLimiter = app.state.admin.limiter
    limiter.clock = lambda: clock.now.timestamp() + 15 * 60 + 1
    assert login(client, "police").status_code == 303


def test_the_lock_out_is_shared_through_redis(
    app: FastAPI, new_client: Callable[[], TestClient], staff: dict[str, StaffAccount]
) -> None:
    client_redis = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client_redis.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = "admintest" + secrets.token_hex(4)
    settings = app.state.admin.settings
    # Two desks (two bot processes) sharing one Redis.
    first = LoginLimiter(5, 900, client_redis, prefix)
    app.state.admin = Desk(settings, first, clock=app.state.admin.clock)
    try:
        for _ in range(5):
            assert login(new_client(), "police", "wrong password!").status_code == 401
        keys = list(client_redis.scan_iter(f"{prefix}:admin:login:*"))
        assert len(keys) == 3
        assert all(0 < client_redis.ttl(k) <= 900 for k in keys)
        assert not any(b"police" in k for k in keys)  # hashed, not the username
        app.state.admin = Desk(settings, LoginLimiter(5, 900, client_redis, prefix), clock=app.state.admin.clock)
        response = login(new_client(), "police")
        assert response.status_code == 429 and LOCKED_OUT in response.text
    finally:
        for key in client_redis.scan_iter(f"{prefix}:*"):
            client_redis.delete(key)
        client_redis.close()


def test_redis_down_falls_back_to_counting_in_memory(
    app: FastAPI, client: TestClient, staff: dict[str, StaffAccount]
) -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    app.state.admin = Desk(app.state.admin.settings, LoginLimiter(2, 900, dead), clock=app.state.admin.clock)
    assert login(client, "police", "wrong password!").status_code == 401
    assert login(client, "police", "wrong password!").status_code == 401
    assert login(client, "police").status_code == 429


# --- sessions --------------------------------------------------------------------------------------


def test_idle_sessions_end_after_30_minutes(signed_in: Callable[[str], TestClient], clock: Clock, engine: Engine) -> None:
    client = signed_in("police")
    clock.advance(minutes=20)
    assert client.get("/admin/api/me").status_code == 200  # activity: the idle time starts again
    clock.advance(minutes=20)
    assert client.get("/admin/api/me").status_code == 200
    clock.advance(minutes=30, seconds=1)
    assert client.get("/admin/api/me").status_code == 401
    response = client.get("/admin/complaints")
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
    assert _sessions(engine) == 0  # the ended session was deleted


def test_sessions_end_8_hours_after_sign_in_however_busy(signed_in: Callable[[str], TestClient], clock: Clock) -> None:
    client = signed_in("police")
    for _ in range(16):  # every 29 minutes for 7 h 44 min: never idle
        clock.advance(minutes=29)
        assert client.get("/admin/api/me").status_code == 200
    clock.advance(minutes=17)  # 8 h 1 min after sign-in
    assert client.get("/admin/api/me").status_code == 401


def test_logout_ends_the_session_on_the_server(signed_in: Callable[[str], TestClient], engine: Engine) -> None:
    client = signed_in("police")
    token = client.cookies.get(COOKIE)
    page = client.get("/admin/complaints")
    response = client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?msg=logged_out"
    assert _sessions(engine) == 0
    assert client.get("/admin/api/me").status_code == 401
    # The old cookie, replayed, is worth nothing.
    client.cookies.set(COOKIE, token, path="/admin")
    assert client.get("/admin/api/me").status_code == 401
    assert "您已退出登录" in client.get("/admin/login?msg=logged_out").text


def test_signing_in_again_visits_the_desk_directly(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("police")
    response = client.get("/admin/login?next=/admin/complaints/stats")
    assert response.status_code == 303 and response.headers["location"] == "/admin/complaints/stats"


def test_a_forged_cookie_is_anonymous(client: TestClient, staff: dict[str, StaffAccount]) -> None:
    client.cookies.set(COOKIE, secrets.token_urlsafe(32), path="/admin")
    assert client.get("/admin/api/me").status_code == 401


# --- CSRF ------------------------------------------------------------------------------------------


def test_login_without_the_forms_token_is_refused(client: TestClient, staff: dict[str, StaffAccount]) -> None:
    client.get("/admin/login")
    response = client.post("/admin/login", data={"csrf": "forged-token-forged-token", "username": "police", "password": PASSWORD})
    assert response.status_code == 403
    assert "登录页面已过期" in response.text
    assert COOKIE not in client.cookies


def test_logout_without_the_token_is_refused(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("police")
    assert client.post("/admin/logout", data={}).status_code == 403
    assert client.post("/admin/logout", data={"csrf": "x" * 43}).status_code == 403
    assert client.get("/admin/api/me").status_code == 200  # still signed in


def test_a_post_from_another_site_is_refused(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("police")
    token = csrf_of(client.get("/admin/complaints").text)
    response = client.post("/admin/logout", data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert client.get("/admin/api/me").status_code == 200


def test_another_sessions_token_does_not_pass(signed_in: Callable[[str], TestClient]) -> None:
    police, labour = signed_in("police"), signed_in("labour")
    foreign = csrf_of(labour.get("/admin/complaints").text)
    assert police.post("/admin/logout", data={"csrf": foreign}).status_code == 403


def test_only_urlencoded_forms_are_read(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("police")
    token = csrf_of(client.get("/admin/complaints").text)
    assert client.post("/admin/logout", json={"csrf": token}).status_code == 415


# --- anonymous -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/api/me", "/admin/api/complaints", "/admin/api/complaints/TS20261123-000001",
                                  "/admin/api/stats"])
def test_the_api_answers_401_to_anonymous(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "请先登录"}


@pytest.mark.parametrize("path", ["/admin/complaints", "/admin/complaints/stats", "/admin/complaints/TS20261123-000001",
                                  "/admin/complaints?status=all&page=2"])
def test_pages_send_anonymous_visitors_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/admin/login?next=")
    assert client.get(location).status_code == 200


def test_anonymous_posts_go_to_sign_in_and_change_nothing(client: TestClient) -> None:
    response = client.post("/admin/complaints/TS20261123-000001/start", data={"csrf": "x"})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"


def test_the_root_and_static_files(client: TestClient) -> None:
    assert client.get("/admin").headers["location"] == "/admin/complaints"
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200 and "tr.row.overdue" in css.text


def test_pages_forbid_framing_scripts_and_caching(client: TestClient) -> None:
    page = client.get("/admin/login")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text
