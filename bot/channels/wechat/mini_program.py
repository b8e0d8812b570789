"""The 豫事办 mini-program's sign-in: a wx.login code exchanged for the user's openid (code2session)."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import LockError, RedisError
from requests import RequestException
from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat.client import SharedTokenClient

log = logging.getLogger(__name__)

# code2session's answers that mean the code is bad (not that WeChat is unwell).
BAD_CODE_ERRCODES = {40029, 40163, 40226}


class LoginRefused(Exception):
    """The code is invalid, used or expired: the user signs in again."""


class LoginUnavailable(Exception):
    """WeChat did not answer usefully: try again later."""


class MiniProgram:
    def __init__(self, client: SharedTokenClient) -> None:
        self.client = client

    async def openid_for(self, code: str) -> str:
        try:
            result = await asyncio.to_thread(self.client.wxa.code_to_session, code)
        except WeChatClientException as exc:
            if exc.errcode in BAD_CODE_ERRCODES:
                raise LoginRefused(str(exc.errmsg)) from exc
            log.error("code2session failed: %s %s", exc.errcode, exc.errmsg)
            raise LoginUnavailable(str(exc.errmsg)) from exc
        except (RequestException, RedisError, LockError) as exc:
            # WeChat unreachable, or the shared token store (Redis) down or its refresh lock busy.
            raise LoginUnavailable(str(exc)) from exc
        openid = result.get("openid") if isinstance(result, dict) else None
        if not isinstance(openid, str) or not openid:
            raise LoginUnavailable("code2session answered without an openid")
        # The session_key stays here: it is never logged, stored or sent to the client.
        return openid
