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
# The policy last opened and the binding form's slots (惠企政策, 企业绑定).
POLICY_SLOTS = ("policy_match_id", "bind_uscc", "bind_code", "bind_challenge", "bind_enterprise")


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

    async def switch(self, state: dict[str, Any], text: str) -> Reply:
        return await self._post("switch", {"state": state, "text": text})

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

    # --- 惠企政策 and 企业绑定 (/api/v1/dialogue/policies/...) -------------------------------------

    async def policies_list(self, user_id: str, text: str) -> Reply:
        return await self._post("policies/list", {"user_id": user_id, "text": text})

    async def policy_step(
        self, step: str, user_id: str, match_id: str | None, state: dict[str, Any], text: str
    ) -> Reply:
        """open / confirm / decline one policy: the button's match, else the words or the policy last opened."""
        return await self._post(f"policies/{step}", {"user_id": user_id, "match_id": match_id, "state": state, "text": text})

    async def bind_start(self, user_id: str, channel: str, text: str) -> Reply:
        return await self._post("policies/bind/start", {"user_id": user_id, "channel": channel, "text": text})

    async def bind_prompt(self, slot: str, state: dict[str, Any]) -> Reply:
        return await self._post("policies/bind/prompt", {"slot": slot, "state": state})

    async def bind_interpret(
        self, slot: str, user_id: str, channel: str, state: dict[str, Any], text: str, choice: str | None
    ) -> Reply:
        body = {"slot": slot, "user_id": user_id, "channel": channel, "state": state, "text": text, "choice": choice}
        return await self._post("policies/bind/interpret", body)

    async def bind_done(self, user_id: str, state: dict[str, Any]) -> Reply:
        return await self._post("policies/bind/done", {"user_id": user_id, "state": state})

    async def bind_stop(self) -> Reply:
        return await self._post("policies/bind/stop", {})

    async def unbind(self, user_id: str, uscc: str | None, text: str) -> Reply:
        return await self._post("policies/unbind", {"user_id": user_id, "uscc": uscc, "text": text})


backend = BackendClient()
