"""Redis keys the official account shares with the push worker (bot.push.answers)."""

from __future__ import annotations

# WeChat lets an account send 客服消息 for 48 hours after the user's last message; keep a margin.
CUSTOMER_SERVICE_WINDOW_SECONDS = 48 * 3600 - 600


def last_inbound_key(wx_prefix: str, openid: str) -> str:
    """Set on every message from the user, expiring when the 48-hour window closes."""
    return f"{wx_prefix}:last_in:{openid}"


def choices_key(wx_prefix: str, openid: str) -> str:
    """The numbered choices a typed number refers to."""
    return f"{wx_prefix}:choices:{openid}"
