"""Failed sign-ins at the staff desk, counted per username and address, in Redis when there is one.

Three counters per failure, each a fixed window (``admin_login_window_minutes``, 15 by default):

- the username from this address: ``max_failures`` (5) failures lock that pair for the window;
- the username from anywhere: 4 × as many (someone guessing from many addresses);
- the address, whatever the username: 10 × as many (someone trying many usernames).

A locked-out sign-in is refused before the password is even checked. The pair and the username
counters are cleared by a successful sign-in of that user. With ``REDIS_URL`` set the counters live
in Redis (``<prefix>:admin:login:...``, shared by every bot process, expiring with their window);
without it, or while Redis does not answer, in this process's memory. Keys hold a hash, not the
username or address.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

USER_FACTOR = 4
ADDRESS_FACTOR = 10


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class LoginLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_seconds: float = 15 * 60,
        redis_client: redis.Redis | None = None,
        key_prefix: str = "yishiban",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_failures = max_failures
        self.window = max(1, int(window_seconds))
        self.redis = redis_client
        self.key_prefix = key_prefix
        self.clock = clock
        self._lock = threading.Lock()
        self._memory: dict[str, tuple[int, float]] = {}  # key -> (failures, window end)

    # -- the counters -----------------------------------------------------------------------------

    def _keys(self, username: str, address: str) -> list[tuple[str, int]]:
        base = f"{self.key_prefix}:admin:login"
        return [
            (f"{base}:pair:{_digest(username, address)}", self.max_failures),
            (f"{base}:user:{_digest(username)}", self.max_failures * USER_FACTOR),
            (f"{base}:addr:{_digest(address)}", self.max_failures * ADDRESS_FACTOR),
        ]

    def blocked(self, username: str, address: str) -> bool:
        """True while any of the three counters is at its limit."""
        keys = self._keys(username, address)
        counts = self._get([k for k, _ in keys])
        return any(count >= limit for count, (_, limit) in zip(counts, keys, strict=True))

    def failed(self, username: str, address: str) -> None:
        for key, _ in self._keys(username, address):
            self._incr(key)

    def succeeded(self, username: str, address: str) -> None:
        self._delete([k for k, _ in self._keys(username, address)[:2]])

    # -- storage ----------------------------------------------------------------------------------

    def _redis_failed(self, exc: Exception) -> None:
        log.warning("login rate limit: Redis unavailable (%s); counting in this process until it answers", exc)

    def _get(self, keys: list[str]) -> list[int]:
        if self.redis is not None:
            try:
                return [int(v or 0) for v in self.redis.mget(keys)]
            except redis.RedisError as exc:
                self._redis_failed(exc)
        now = self.clock()
        counts: list[int] = []
        with self._lock:
            for key in keys:
                count, end = self._memory.get(key, (0, 0.0))
                counts.append(count if end > now else 0)
        return counts

    def _incr(self, key: str) -> None:
        if self.redis is not None:
            try:
                # One transaction: the key exists with its expiry before it is counted, so it always expires.
                pipe = self.redis.pipeline(transaction=True)
                pipe.set(key, 0, ex=self.window, nx=True)
                pipe.incr(key)
                pipe.execute()
                return
            except redis.RedisError as exc:
                self._redis_failed(exc)
        now = self.clock()
        with self._lock:
            count, end = self._memory.get(key, (0, 0.0))
            if end <= now:
                count, end = 0, now + self.window
            self._memory[key] = (count + 1, end)
            if len(self._memory) > 10_000:  # forget finished windows now and then
                self._memory = {k: v for k, v in self._memory.items() if v[1] > now}

    def _delete(self, keys: list[str]) -> None:
        if self.redis is not None:
            try:
                self.redis.delete(*keys)
            except redis.RedisError as exc:
                self._redis_failed(exc)
        with self._lock:
            for key in keys:
                self._memory.pop(key, None)
