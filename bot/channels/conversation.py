"""One turn of the conversation, the same for every channel: text or payload in, messages out."""

from __future__ import annotations

from bot.channels import messages as m
from bot.channels.rasa import RasaClient, to_messages

NOT_UNDERSTOOD = "抱歉，我没太明白。您可以换个说法，或者说“你能办什么”看看。"


async def converse(rasa: RasaClient, sender: str, message: str, channel: str | None = None) -> list[m.Message]:
    """Raises RasaUnavailable when the assistant cannot answer; the channel says so in its own way.

    ``channel`` (web, wechat, mp) goes along as the message's metadata: a complaint records where it came from.
    """
    metadata = {"channel": channel} if channel else None
    messages = to_messages(await rasa.send(sender, message, metadata))
    return messages or [m.TextMessage(text=NOT_UNDERSTOOD)]
