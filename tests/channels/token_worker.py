"""The child process of test_wechat_token: kept apart so a spawned process imports only what it needs."""

from __future__ import annotations

import os
from typing import Any

import redis

from bot.channels.wechat.client import SharedTokenClient


def token_worker(appid: str, secret: str, base_url: str, redis_url: str, barrier: Any, results: Any, send_to: str | None) -> None:
    """Build a client, wait for the other processes, then all ask (or send) at once."""
    try:
        client = SharedTokenClient(appid, secret, base_url, redis.Redis.from_url(redis_url))
        barrier.wait(30)
        if send_to:
            client.message.send_text(send_to, f"来自进程 {os.getpid()}")
        results.put((os.getpid(), client.access_token, None))
    except BaseException as exc:
        results.put((os.getpid(), None, repr(exc)))
