"""A small typed client for the backend's /api/v1/dialogue endpoints.

The action server holds no business rules and touches no storage: it forwards the relevant slots
and the user's words, and gets back the messages to send and the slots to set.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

import aiohttp

BACKEND_URL = os.environ.get("BACKEND_URL", "http://127.0.0.1:8000").rstrip("/")
TIMEOUT = aiohttp.ClientTimeout(total=float(os.environ.get("BACKEND_TIMEOUT_SECONDS", "10")))

FLOW_SLOTS = ("guide_id", "guide_items", "items_draft", "answers", "pending_question", "last_items")
# The complaint form's slots (guide_id too: the 一件事 just used pre-fills what the complaint is about).
COMPLAINT_SLOTS = (
    "guide_id", "complaint_text", "complaint_subject", "complaint_guide_id", "complaint_place", "complaint_phone",
    "complaint_confirm", "complaint_editing", "complaint_key", "complaint_opening",
)


@dataclass
class Reply:
    messages: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)


class BackendError(Exception):
    pass


class BackendClient:
    def __init__(self, base_url: str = BACKEND_URL) -> None:
        self.base_url = base_url
        self._session: aiohttp.ClientSession | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> Reply:
        if self._session is None or self._session.closed:
            # Idle connections are dropped after 10 s, before the bot's 30 s keep-alive ends.
            connector = aiohttp.TCPConnector(keepalive_timeout=10, limit=100)
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, connector=connector)
        try:
            async with self._session.post(f"{self.base_url}/api/v1/dialogue/{path}", json=body) as response:
                if response.status != 200:
                    raise BackendError(f"{path}: HTTP {response.status}: {(await response.text())[:200]}")
                data = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # distinct on Python 3.10
            raise BackendError(f"{path}: {exc}") from exc
        return Reply(messages=data.get("messages", []), slots=data.get("slots", {}))

    async def identify(self, text: str, guide_id: str | None) -> Reply:
        return await self._post("identify", {"text": text, "guide_id": guide_id})

    async def items_prompt(self, state: dict[str, Any]) -> Reply:
        return await self._post("items/prompt", {"state": state})

    async def items_interpret(self, state: dict[str, Any], text: str, choice: str | None, guide_id: str | None) -> Reply:
        return await self._post("items/interpret", {"state": state, "text": text, "choice": choice, "guide_id": guide_id})

    async def question_prompt(self, state: dict[str, Any]) -> Reply:
        return await self._post("question/prompt", {"state": state})

    async def question_interpret(
        self, state: dict[str, Any], text: str, choice: str | None, guide_id: str | None
    ) -> Reply:
        body = {"state": state, "text": text, "choice": choice, "guide_id": guide_id}
        return await self._post("question/interpret", body)

    async def checklist(self, state: dict[str, Any], user_id: str | None = None) -> Reply:
        return await self._post("checklist", {"state": state, "user_id": user_id})

    async def explain(self, state: dict[str, Any], text: str) -> Reply:
        return await self._post("explain", {"state": state, "text": text})

    async def reply(self, key: str, state: dict[str, Any]) -> Reply:
        return await self._post("reply", {"key": key, "state": state})

    # --- the complaint conversation (/api/v1/dialogue/complaint/...) ---------------------------

    async def complaint_start(self, state: dict[str, Any], text: str) -> Reply:
        return await self._post("complaint/start", {"state": state, "text": text})

    async def complaint_prompt(self, slot: str, state: dict[str, Any]) -> Reply:
        return await self._post("complaint/prompt", {"slot": slot, "state": state})

    async def complaint_interpret(self, slot: str, state: dict[str, Any], text: str, choice: str | None) -> Reply:
        return await self._post("complaint/interpret", {"slot": slot, "state": state, "text": text, "choice": choice})

    async def complaint_submit(self, state: dict[str, Any], user_id: str, channel: str, choice: str | None) -> Reply:
        body = {"state": state, "user_id": user_id, "channel": channel, "choice": choice}
        return await self._post("complaint/submit", body)

    async def complaint_stop(self, state: dict[str, Any]) -> Reply:
        return await self._post("complaint/stop", {"state": state})

    async def complaint_status(self, user_id: str) -> Reply:
        return await self._post("complaint/status", {"user_id": user_id})

    async def complaint_rate(self, user_id: str, ticket_no: str | None, rating: str | None, text: str) -> Reply:
        return await self._post("complaint/rate", {"user_id": user_id, "ticket_no": ticket_no, "rating": rating, "text": text})


backend = BackendClient()
