"""Who is at the desk: server-side sessions, their cookie, CSRF tokens, and the page/API guards.

- Sign-in checks the password with the core's argon2 ``authenticate`` (same time for an unknown
  name), and answers every failure with the same words: 用户名或密码错误.
- A session is a row of ``staff_sessions`` (bot.admin.models); the browser's cookie
  ``yishiban_admin`` (HttpOnly, SameSite=Lax, Path=/admin, Secure over HTTPS) holds the random
  token whose hash is the row's key. It ends 8 hours after sign-in whatever happens, after 30
  minutes without a request, at logout, or when the account is deactivated. Nothing is signed
  with a secret, so every bot process (and a restart) accepts the same sessions without one.
- CSRF: every POST form carries the session's token in a hidden field (``csrf``), compared in
  constant time; the sign-in form, before there is a session, carries a token that must match a
  short-lived cookie (double submit). A POST whose Origin header names another host is refused.
- Pages send anonymous visitors to the sign-in page (303); /admin/api/* answers 401.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request, Response
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from bot.admin.models import StaffSession
from bot.admin.ratelimit import LoginLimiter
from bot.complaints.models import StaffAccount
from bot.complaints.service import Actor
from bot.config import Settings
from bot.store.models import utcnow

log = logging.getLogger(__name__)

COOKIE = "yishiban_admin"
LOGIN_COOKIE = "yishiban_admin_login"  # the sign-in form's CSRF token, before any session
COOKIE_PATH = "/admin"
LOGIN_PATH = "/admin/login"
HOME_PATH = "/admin/complaints"
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per session
LOGIN_FORM_SECONDS = 3600
BAD_CREDENTIALS = "用户名或密码错误"
LOCKED_OUT = "登录失败次数过多，请 15 分钟后再试"
LOGIN_REQUIRED = "请先登录"


@dataclass(frozen=True)
class StaffUser:
    """The signed-in member of staff, as plain values (no ORM object outlives the check)."""

    id: int
    username: str
    department: str
    admin: bool
    session_id: int
    csrf: str
    editor: bool = False  # may edit the department's guides at /admin/guides (administrators: all)

    @property
    def actor(self) -> Actor:
        return Actor("staff", self.username, self.department, self.admin)

    @property
    def role_label(self) -> str:
        return "管理员" if self.admin else "工作人员（可编辑指南）" if self.editor else "工作人员"


@dataclass
class Desk:
    """The desk's per-app state (``app.state.admin``); tests replace ``clock``."""

    settings: Settings
    limiter: LoginLimiter
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.admin_session_hours)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.admin_idle_minutes)


def desk_of(request: Request) -> Desk:
    return request.app.state.admin


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_address(request: Request) -> str:
    return (request.client.host if request.client else "") or "unknown"


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.public_base_url.startswith("https://")


# --- sessions ------------------------------------------------------------------------------------


def open_session(session: Session, account: StaffAccount, desk: Desk, client: str) -> str:
    """A new session for ``account`` (flushed; the caller commits); the token for the cookie.

    Sessions that have ended (any user's) are removed on the way.
    """
    now = desk.clock()
    session.execute(
        delete(StaffSession).where(or_(StaffSession.expires_at <= now, StaffSession.last_seen_at <= now - desk.idle))
    )
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_hash(token), staff_id=account.id, csrf_token=secrets.token_urlsafe(32), created_at=now,
            last_seen_at=now, expires_at=now + desk.lifetime, client=client[:64],
        )
    )
    session.flush()
    return token


def current_user(request: Request, session: Session) -> StaffUser | None:
    """The member of staff whose valid session cookie came with the request, else None.

    An ended session (absolute or idle expiry, inactive account) is deleted. Every transaction
    here is closed before returning, so the caller starts afresh (SQLite: read, then write).
    """
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    desk = desk_of(request)
    now = desk.clock()
    row = session.execute(
        select(StaffSession, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
        .where(StaffSession.token_hash == _hash(token))
    ).first()
    if row is None:
        session.rollback()
        return None
    record, account = row
    ended = now >= record.expires_at or now - record.last_seen_at >= desk.idle or not account.active
    user = StaffUser(
        account.id, account.username, account.department, account.is_admin, record.id, record.csrf_token,
        account.guide_editor,
    )
    session_id, last_seen = record.id, record.last_seen_at
    session.rollback()
    if ended:
        session.execute(delete(StaffSession).where(StaffSession.id == session_id))
        session.commit()
        log.info("staff session of %s ended (expired, idle or account inactive)", user.username)
        return None
    if now - last_seen >= TOUCH_EVERY:
        session.execute(update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now))
        session.commit()
    return user


def close_session(session: Session, user: StaffUser) -> None:
    session.execute(delete(StaffSession).where(StaffSession.id == user.session_id))
    session.commit()


def set_session_cookie(request: Request, response: Response, token: str, desk: Desk) -> None:
    response.set_cookie(
        COOKIE, token, max_age=int(desk.lifetime.total_seconds()), path=COOKIE_PATH, httponly=True, samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=_secure(request))


# --- CSRF ---------------------------------------------------------------------------------------


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def login_form_token(request: Request) -> str:
    """The sign-in form's token: the one in its cookie if there is one, else a new one."""
    token = request.cookies.get(LOGIN_COOKIE)
    return token if token and 20 <= len(token) <= 100 else secrets.token_urlsafe(32)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=LOGIN_FORM_SECONDS, path=COOKIE_PATH, httponly=True, samesite="strict",
        secure=_secure(request),
    )


def same_origin(request: Request) -> bool:
    """False when the browser says the POST came from a page of another host (Origin header)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by older browsers and non-browser clients: the token decides
    settings: Settings = request.app.state.settings
    allowed = {request.headers.get("host", ""), urlsplit(settings.public_base_url).netloc}
    return urlsplit(origin).netloc in allowed


# --- guards ---------------------------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of the desk, never another site."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value and value != LOGIN_PATH:
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc:
            return value
    return HOME_PATH


def login_redirect(request: Request) -> HTTPException:
    """303 to the sign-in page, coming back here afterwards (GET pages only)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = LOGIN_PATH if request.method != "GET" else f"{LOGIN_PATH}?next={quote(safe_next(target), safe='/')}"
    return HTTPException(status_code=303, detail=LOGIN_REQUIRED, headers={"Location": location, "Cache-Control": "no-store"})


def api_unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail=LOGIN_REQUIRED, headers={"Cache-Control": "no-store"})
