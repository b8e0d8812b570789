"""Helpers for the WeChat channel tests: the bot served for real, and a controllable stand-in for Rasa.

* `LiveApp` serves the bot's FastAPI app with uvicorn on loopback *with* its lifespan (ServedApp's default is
  lifespan off), so the official account, its Redis connections and its background answer tasks live
  in the server's own event loop, as in production.
* `FakeRasa` answers Rasa's REST webhook (POST /webhooks/rest/webhook) with canned output, per sender,
  with an optional delay or HTTP error, and records what it received. It stands in for our Rasa only in
  the channel tests; the real Rasa is covered by the e2e tests.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serve import ServedApp, ServedFake

RasaOutput = list[dict[str, Any]]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def LiveApp(app: Any) -> ServedApp:
    """The bot served on loopback with its lifespan (start-up and shutdown) running."""
    return ServedApp(app, lifespan="on", graceful_seconds=5)


@dataclass
class Script:
    """How the fake Rasa answers one sender."""

    reply: Callable[[str], RasaOutput]
    delay: float = 0.0
    status: int = 200


def echo(message: str) -> RasaOutput:
    return [{"text": f"您说的是：{message}"}]


class FakeRasa(ServedFake):
    """A loopback HTTP server speaking Rasa's REST channel; senders without a script get `echo`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        self._scripts: dict[str, Script] = {}
        self.app = Starlette(routes=[
            Route("/webhooks/rest/webhook", self._webhook, methods=["POST"]),
            Route("/webhooks/rest/", self._health, methods=["GET"]),
        ])
        self._served = ServedApp(self.app)

    # -- control and inspection (test thread) -----------------------------------------------------

    def script(self, sender: str, reply: RasaOutput | Callable[[str], RasaOutput] | None = None, *,
               delay: float = 0.0, status: int = 200) -> None:
        """Answer `sender` with `reply` (fixed output, or a function of the message) after `delay` seconds."""
        if reply is None:
            handler: Callable[[str], RasaOutput] = echo
        elif callable(reply):
            handler = reply
        else:
            fixed = reply
            handler = lambda _message: fixed  # noqa: E731
        with self._lock:
            self._scripts[sender] = Script(handler, delay, status)

    def received(self, sender: str | None = None) -> list[str]:
        """The messages received (from `sender`, or from anyone), oldest first."""
        with self._lock:
            return [r["message"] for r in self._received if sender is None or r["sender"] == sender]

    def total(self) -> int:
        with self._lock:
            return len(self._received)

    # -- server side ------------------------------------------------------------------------------

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _webhook(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self._received.append({"sender": body.get("sender"), "message": body.get("message"), "time": time.time()})
            script = self._scripts.get(body.get("sender"), Script(echo))
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.status != 200:
            return JSONResponse({"error": "rasa is unwell"}, status_code=script.status)
        return JSONResponse(script.reply(str(body.get("message"))))
