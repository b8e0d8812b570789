"""Session tokens for the mini-program (and the demo page): signed, expiring, stateless.

A token says who the user is (`sub`, the mini-program openid or an anonymous demo id) and until
when. PyJWT signs and checks it (HS256 with SESSION_SECRET, shared by every bot process).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import jwt

from bot.config import Settings

log = logging.getLogger(__name__)

ISSUER = "yishiban"
AUDIENCE = "chat"
ALGORITHM = "HS256"
DEMO_PREFIX = "demo-"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash


class InvalidSession(Exception):
    """Missing, forged, expired or malformed: the caller answers 401."""


@dataclass(frozen=True)
class Session:
    user_id: str
    demo: bool
    expires_at: int


class SessionSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self.secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: str, demo: bool = False) -> tuple[str, Session]:
        now = int(time.time())
        session = Session(user_id=user_id, demo=demo, expires_at=now + self.ttl_seconds)
        claims = {"sub": user_id, "demo": demo, "iat": now, "exp": session.expires_at, "iss": ISSUER, "aud": AUDIENCE}
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM), session

    def issue_demo(self) -> tuple[str, Session]:
        return self.issue(DEMO_PREFIX + secrets.token_hex(8), demo=True)

    def verify(self, token: str) -> Session:
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["sub", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidSession(str(exc)) from exc
        user_id, demo = claims.get("sub"), bool(claims.get("demo"))
        if not isinstance(user_id, str) or not user_id or demo != user_id.startswith(DEMO_PREFIX):
            raise InvalidSession("malformed subject")
        return Session(user_id=user_id, demo=demo, expires_at=int(claims["exp"]))


def make_signer(settings: Settings) -> SessionSigner:
    secret = settings.session_secret
    if not secret:
        if settings.mp_app_id:
            raise RuntimeError("MP_APP_ID is set but SESSION_SECRET is missing: every bot process must sign with the same secret")
        # Demo tokens only: a per-process secret is enough for one process; say so for several.
        log.warning("SESSION_SECRET is not set: demo sessions are valid in this process only")
        secret = secrets.token_urlsafe(32)
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(f"SESSION_SECRET must be at least {MIN_SECRET_BYTES} bytes (HS256 key length)")
    return SessionSigner(secret, settings.session_ttl_seconds)
