"""wechatpy clients for the official account and the mini-program, sharing one access_token.

WeChat allows a limited number of token fetches a day and invalidates the previous token on
each fetch, so the token lives in Redis (wechatpy's RedisStorage) for every process, and a Redis
lock makes sure only one process refreshes it at a time; the others wait and use its result.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.session.redisstorage import RedisStorage

log = logging.getLogger(__name__)

TOKEN_PREFIX = "yishiban:wechat"
LOCK_TIMEOUT_SECONDS = 15  # longer than one token request may take (wechatpy's timeout below)


class _TimeoutSession(requests.Session):
    """wechatpy passes its timeout to API calls but not to the token fetch: give that one the same."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


class SharedTokenClient(WeChatClient):
    """A WeChatClient whose API base URL is configurable and whose token refresh is serialized."""

    def __init__(self, appid: str, secret: str, api_base_url: str, redis_client: redis.Redis, timeout: float = 5.0) -> None:
        super().__init__(appid, secret, session=RedisStorage(redis_client, prefix=TOKEN_PREFIX), timeout=timeout)
        self.base = api_base_url.rstrip("/")
        self.API_BASE_URL = f"{self.base}/cgi-bin/"
        # The mini-program APIs (code2session, subscribe messages) live at the root, not under cgi-bin/.
        self.wxa.API_BASE_URL = f"{self.base}/"
        self._redis = redis_client
        self._http = _TimeoutSession(timeout)  # a hung WeChat must not hold the refresh lock for ever
        self._refused = threading.local()  # per thread: the token WeChat just refused (40001/42001)

    def _handle_result(self, res: Any, method: Any = None, url: Any = None, result_processor: Any = None, **kwargs: Any) -> Any:
        # wechatpy calls fetch_access_token from in here when WeChat refuses the token the request carried.
        # That token, not whatever Redis holds by now, tells whether another process has refreshed meanwhile.
        params = kwargs.get("params")
        self._refused.token = params.get("access_token") if isinstance(params, dict) else None
        try:
            return super()._handle_result(res, method, url, result_processor, **kwargs)
        finally:
            self._refused.token = None

    def fetch_access_token(self) -> dict[str, Any]:
        known = getattr(self._refused, "token", None) or self.session.get(self.access_token_key)
        with self._redis.lock(f"{TOKEN_PREFIX}:{self.appid}:refresh", timeout=LOCK_TIMEOUT_SECONDS,
                              blocking_timeout=LOCK_TIMEOUT_SECONDS):
            current = self.session.get(self.access_token_key)
            if current and current != known:
                # Another process refreshed while this one waited for the lock: use its token.
                ttl = self._redis.ttl(self.session.key_name(self.access_token_key))
                self.expires_at = None if ttl is None or ttl < 0 else int(time.time()) + int(ttl)
                return {"access_token": current}
            log.info("fetching a new WeChat access_token for %s", self.appid)
            return self._fetch_access_token(
                url=f"{self.base}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
