"""Serve an ASGI app with uvicorn in a background thread on 127.0.0.1 and a free port.

The socket is bound here (port 0) before uvicorn starts, so the port is known without races and
two fakes never fight over a port.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn


class ServedApp:
    """Runs `app` on loopback until `stop()`; `url` is "http://127.0.0.1:PORT". Usable as a context manager."""

    def __init__(self, app: Any, *, log_level: str = "warning", lifespan: str = "off", graceful_seconds: int = 2) -> None:
        self.app = app
        self._log_level = log_level
        self._lifespan = lifespan  # "on" for the bot itself: its start-up (migrations, channels) must run
        self._graceful_seconds = graceful_seconds
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self, timeout: float = 10.0) -> Self:
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        # A handler still running for a client that gave up (a simulated WeChat timeout) must not block stop().
        config = uvicorn.Config(self.app, log_level=self._log_level, lifespan=self._lifespan, access_log=False,
                                timeout_graceful_shutdown=self._graceful_seconds)
        server = uvicorn.Server(config)
        # uvicorn only installs signal handlers on the main thread, so a background thread is safe.
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{self._port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"uvicorn did not start on port {self._port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class ServedFake:
    """Lifecycle of a fake that owns a ServedApp in `self._served`: start, stop, url, context manager."""

    _served: ServedApp

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> Self:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
