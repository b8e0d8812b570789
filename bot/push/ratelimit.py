"""One send rate for every worker process, kept in Redis (the ``limits`` package's moving window).

WeChat caps calls per app and a burst of thousands of notices must not trip it, whichever worker
sends: the window lives in Redis, so two workers on two machines share it.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

MIN_WAIT_SECONDS = 0.005


class GlobalRateLimit:
    def __init__(self, redis_url: str, rate: str, key_prefix: str, *, name: str = "wechat-push") -> None:
        """``rate`` in limits' notation: "20/second", "600 per minute"."""
        self.item: RateLimitItem = parse(rate)
        uri = redis_url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1)
        self.storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{key_prefix}:ratelimit")
        self.prefix = f"{key_prefix}:push"
        self.redis = aioredis.Redis.from_url(redis_url)  # for the senders' call markers
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.name = name

    async def acquire(self, timeout: float | None = None) -> None:
        """Wait until one more send fits in the window, then take it. TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not await self.limiter.hit(self.item, self.name):
            stats = await self.limiter.get_window_stats(self.item, self.name)
            wait = max(MIN_WAIT_SECONDS, stats.reset_time - time.time())
            if deadline is not None and time.monotonic() + wait > deadline:
                raise TimeoutError(f"no send slot within {timeout} s at {self.item}")
            await asyncio.sleep(wait)

    async def clear(self) -> None:
        await self.limiter.clear(self.item, self.name)

    async def aclose(self) -> None:
        await self.redis.aclose()
