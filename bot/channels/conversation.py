"""One turn of the conversation, the same for every channel: text or payload in, messages out."""

from __future__ import annotations

from collections.abc import Callable

from bot.channels import messages as m
from bot.channels.rasa import RasaClient, to_messages

# What to say when the assistant said nothing: the guides' “fallback” reply, read from the live
# wording (bot.guides.dialogue.not_understood), so staff can change it like any other reply.
Fallback = Callable[[], list[m.Message]]


async def converse(
    rasa: RasaClient, sender: str, message: str, fallback: Fallback, channel: str | None = None
) -> list[m.Message]:
    """Raises RasaUnavailable when the assistant cannot answer; the channel says so in its own way.

    ``channel`` (web, wechat, mp) goes along as the message's metadata: a complaint records where it came from.
    """
    metadata = {"channel": channel} if channel else None
    messages = to_messages(await rasa.send(sender, message, metadata))
    return messages or fallback()
