"""The Rasa server as seen from the bot: its REST webhook, and its replies turned into messages."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from bot.channels import messages as m

log = logging.getLogger(__name__)
_message = TypeAdapter(m.Message)


class RasaUnavailable(Exception):
    """The Rasa server did not answer; the caller tells the user to try again."""


class RasaClient:
    def __init__(self, base_url: str, timeout: float = 20.0, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, sender: str, message: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``metadata`` (e.g. the channel) reaches the actions as the tracker's latest_message["metadata"]."""
        body: dict[str, Any] = {"sender": sender, "message": message}
        if metadata:
            body["metadata"] = metadata
        try:
            response = await self._client.post(f"{self.base_url}/webhooks/rest/webhook", json=body)
            response.raise_for_status()
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            raise RasaUnavailable(str(exc)) from exc
        data = response.json()
        return data if isinstance(data, list) else []

    async def ready(self) -> bool:
        try:
            # The REST channel's own health route: available without Rasa's --enable-api.
            response = await self._client.get(f"{self.base_url}/webhooks/rest/", timeout=2.0)
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            return False


def to_messages(rasa_output: list[dict[str, Any]]) -> list[m.Message]:
    """Rasa REST output to channel-neutral messages (custom JSON from actions, or plain text)."""
    result: list[m.Message] = []
    for entry in rasa_output:
        custom = entry.get("custom")
        if isinstance(custom, dict):
            try:
                result.append(_message.validate_python(custom))
            except ValidationError:
                log.error("dropping malformed custom message from Rasa: %s", custom)
            continue
        text = entry.get("text")
        buttons = entry.get("buttons")
        if text and buttons:
            choices = [m.Choice(title=b.get("title", ""), payload=b.get("payload", "")) for b in buttons]
            result.append(m.ChoicesMessage(text=text, choices=choices))
        elif text:
            result.append(m.TextMessage(text=text))
    return result
