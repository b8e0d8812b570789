"""Build the official account channel from the settings, or None when WeChat is not configured."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import redis
import redis.asyncio as aioredis

from bot.channels.conversation import Fallback
from bot.channels.messages import Message
from bot.channels.rasa import RasaClient
from bot.channels.wechat.client import SharedTokenClient
from bot.channels.wechat.inbound import InboundVerifier
from bot.channels.wechat.mini_program import MiniProgram
from bot.channels.wechat.official_account import OfficialAccount
from bot.channels.wechat.render import WeChatRenderer
from bot.config import Settings

log = logging.getLogger(__name__)


class WeChatConfigError(RuntimeError):
    pass


def open_official_account(
    settings: Settings, rasa: RasaClient, fallback: Fallback,
    pending: Callable[[str], Awaitable[list[Message]]] | None = None,
) -> OfficialAccount | None:
    if not settings.wechat_token:
        return None
    required = {"WECHAT_APP_ID": settings.wechat_app_id, "WECHAT_APP_SECRET": settings.wechat_app_secret,
                "REDIS_URL": settings.redis_url}
    missing = [name for name, value in required.items() if not value]
    if missing:
        # Refuse to start half-configured: retries could not be de-duplicated, nor answers sent late.
        raise WeChatConfigError(f"WECHAT_TOKEN is set but {', '.join(missing)} is missing")
    assert settings.redis_url is not None
    return OfficialAccount(
        verifier=InboundVerifier(settings.wechat_token, settings.wechat_app_id, settings.wechat_aes_key,
                                 settings.wechat_max_clock_skew_seconds),
        client=SharedTokenClient(settings.wechat_app_id or "", settings.wechat_app_secret or "", settings.wechat_api_base_url,
                                 redis.Redis.from_url(settings.redis_url)),
        renderer=WeChatRenderer(settings.guides_dir / "templates" / "wechat", settings.public_base_url),
        rasa=rasa,
        redis=aioredis.Redis.from_url(settings.redis_url),
        guides_dir=settings.guides_dir,
        reply_budget=settings.wechat_reply_budget_seconds,
        max_text_chars=settings.max_text_chars,
        key_prefix=f"{settings.redis_key_prefix}:wx",
        fallback=fallback,
        pending=pending,
    )


def open_mini_program(settings: Settings) -> MiniProgram | None:
    if not settings.mp_app_id:
        return None
    if not (settings.mp_app_secret and settings.redis_url):
        raise WeChatConfigError("MP_APP_ID is set but MP_APP_SECRET or REDIS_URL is missing")
    return MiniProgram(SharedTokenClient(settings.mp_app_id, settings.mp_app_secret, settings.wechat_api_base_url,
                                         redis.Redis.from_url(settings.redis_url)))
