"""A fake of WeChat's server API (api.weixin.qq.com) on loopback, for the bot's outgoing calls.

It answers with WeChat's JSON shapes and error codes, so wechatpy's WeChatClient (including its
automatic token refetch on 40001/42001) runs unchanged against it. What it models, and why:

* access tokens: each fetch issues a new token and invalidates the previous one for that app, as
  WeChat does, so two processes that both refresh break each other; the fake counts fetches (and
  the peak of concurrent ones) so tests can prove the token is shared and refreshed once.
* 客服消息 / template / subscribe sends: recorded with the token used, so tests assert on what the user
  would have received; 2048-byte text limit (45002) and per-openid failure injection (-1, 45015,
  43004, 43101 ...) exercise the bot's error handling.
* mini-program code2session: single-use codes, as on WeChat.

Errors come back with HTTP 200 and an errcode, exactly like WeChat.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.serve import ServedApp, ServedFake

ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45002: "content size out of limit",
    45015: "response out of time limit",
    45047: "out of response count limit",
    47001: "data format error",
}

TEXT_LIMIT_BYTES = 2048


def error(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    """WeChat's error body; errmsg defaults to the text WeChat uses for that code."""
    return {"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "error")}


@dataclass
class _Token:
    appid: str
    value: str
    expires_at: float


@dataclass
class _LoginCode:
    openid: str
    unionid: str | None
    used: bool = False


class FakeWeChatAPI(ServedFake):
    """The fake server: `start()` serves it, `url` is its base ("http://127.0.0.1:PORT").

    Point wechatpy at it with `client.API_BASE_URL = f"{fake.url}/cgi-bin/"` (and
    `client.wxa.API_BASE_URL = f"{fake.url}/"` for mini-program calls). All recording is guarded by
    a lock: the server thread writes while the test thread reads.
    """

    def __init__(self, apps: dict[str, str], *, expires_in: int = 7200, token_delay: float = 0.0) -> None:
        self.apps = dict(apps)
        self.expires_in = expires_in
        self.token_delay = token_delay
        self._lock = threading.Lock()
        self._msgids = itertools.count(1_000_000_001)
        self._reset_state()
        self.app = self._build_app()
        self._served = ServedApp(self.app)

    def _reset_state(self) -> None:
        self._tokens: dict[str, _Token] = {}  # every token ever issued, by value
        self._current: dict[str, str] = {}  # appid -> the only valid token
        self._fetches: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._failures: dict[str, deque[tuple[int, str | None]]] = {}
        self._codes: dict[str, _LoginCode] = {}
        self._sent: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []

    # -- lifecycle -------------------------------------------------------------------------

    # -- control and inspection (test thread) ------------------------------------------------

    def reset(self) -> None:
        """Forget tokens, counters, injected failures, login codes and recordings (apps stay)."""
        with self._lock:
            self._reset_state()

    def token_fetches(self, appid: str) -> int:
        with self._lock:
            return self._fetches[appid]

    def token_fetch_peak(self, appid: str) -> int:
        """Most token requests for `appid` that were in progress at the same time (use with token_delay)."""
        with self._lock:
            return self._peak[appid]

    def current_token(self, appid: str) -> str | None:
        with self._lock:
            return self._current.get(appid)

    def expire_tokens(self, appid: str) -> None:
        """Make the current token of `appid` expired now (next use → 42001), as if 2 hours had passed."""
        with self._lock:
            token = self._current.get(appid)
            if token:
                self._tokens[token].expires_at = time.time() - 1

    def fail_next(self, openid: str, errcode: int, times: int = 1, *, kind: str | None = None) -> None:
        """The next `times` sends to `openid` (of `kind` "custom"|"template"|"subscribe", or any) get `errcode`."""
        with self._lock:
            self._failures.setdefault(openid, deque()).extend([(errcode, kind)] * times)

    def add_login_code(self, code: str, openid: str, unionid: str | None = None) -> None:
        """Register a wx.login() code; code2session accepts it once."""
        with self._lock:
            self._codes[code] = _LoginCode(openid, unionid)

    def sent(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Messages WeChat accepted, oldest first: kind, touser, content (text or None), payload, time, access_token."""
        with self._lock:
            return [dict(m) for m in self._sent if kind is None or m["kind"] == kind]

    def calls(self) -> list[dict[str, Any]]:
        """Every API call with its outcome (path, appid, touser, errcode, time), including rejected ones."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0, *, count: int = 1
    ) -> list[dict[str, Any]]:
        """Poll until at least `count` sent messages satisfy `predicate`; returns them, or raises TimeoutError.

        Sends happen from other threads and processes (the worker), hence polling rather than asserting at once.
        """
        deadline = time.monotonic() + timeout
        while True:
            matches = [m for m in self.sent() if predicate(m)]
            if len(matches) >= count:
                return matches
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(matches)} of {count} expected messages after {timeout}s; sent: {self.sent()!r}")
            time.sleep(0.02)

    # -- server side -----------------------------------------------------------------------

    def _log(self, path: str, errcode: int, **extra: Any) -> None:
        self._calls.append({"path": path, "errcode": errcode, "time": time.time(), **extra})

    def _check_token(self, token: str | None) -> tuple[int, str | None]:
        """(errcode, appid) for an access_token: 41001 missing, 40001 unknown or not latest, 42001 expired."""
        if not token:
            return 41001, None
        record = self._tokens.get(token)
        if record is None or self._current.get(record.appid) != token:
            return 40001, record.appid if record else None
        if record.expires_at <= time.time():
            return 42001, record.appid
        return 0, record.appid

    def _injected(self, openid: str, kind: str) -> int:
        queue = self._failures.get(openid)
        if not queue:
            return 0
        for i, (errcode, only) in enumerate(queue):
            if only is None or only == kind:
                del queue[i]
                return errcode
        return 0

    async def _send(self, request: Request, kind: str) -> dict[str, Any]:
        """Shared path of the three send APIs: token, JSON body, limits, injected failure, then record."""
        path = request.url.path
        token = request.query_params.get("access_token")
        try:
            payload = json.loads(await request.body())
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            payload = None
        with self._lock:
            errcode, appid = self._check_token(token)
            touser = payload.get("touser") if payload else None
            content: str | None = None
            if errcode == 0 and payload is None:
                errcode = 47001
            elif errcode == 0 and not touser:
                errcode = 40003
            elif errcode == 0 and payload is not None:
                if kind == "custom" and payload.get("msgtype") == "text":
                    content = str((payload.get("text") or {}).get("content", ""))
                    if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
                        errcode = 45002
                if errcode == 0:
                    errcode = self._injected(str(touser), kind)
            self._log(path, errcode, kind=kind, appid=appid, touser=touser)
            if errcode:
                return error(errcode)
            record = {"kind": kind, "path": path, "touser": touser, "content": content, "payload": payload,
                      "time": time.time(), "access_token": token, "appid": appid}
            body: dict[str, Any] = error(0)
            if kind == "template":
                record["msgid"] = body["msgid"] = next(self._msgids)
            self._sent.append(record)
            return body

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake api.weixin.qq.com")

        @app.get("/cgi-bin/token")
        async def token(request: Request) -> dict[str, Any]:
            q = request.query_params
            appid = q.get("appid", "")
            with self._lock:
                self._fetches[appid] += 1
                self._in_flight[appid] += 1
                self._peak[appid] = max(self._peak[appid], self._in_flight[appid])
            try:
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)  # a slow WeChat widens the window for racing refreshes
                with self._lock:
                    if q.get("grant_type") != "client_credential":
                        errcode = 40002
                    elif appid not in self.apps:
                        errcode = 40013
                    elif q.get("secret") != self.apps[appid]:
                        errcode = 40125
                    else:
                        errcode = 0
                    self._log("/cgi-bin/token", errcode, appid=appid)
                    if errcode:
                        return error(errcode)
                    value = secrets.token_urlsafe(48)
                    self._tokens[value] = _Token(appid, value, time.time() + self.expires_in)
                    self._current[appid] = value  # the previous token stops working at once
                    return {"access_token": value, "expires_in": self.expires_in}
            finally:
                with self._lock:
                    self._in_flight[appid] -= 1

        @app.post("/cgi-bin/message/custom/send")
        async def custom_send(request: Request) -> dict[str, Any]:
            return await self._send(request, "custom")

        @app.post("/cgi-bin/menu/create")
        async def menu_create(request: Request) -> dict[str, Any]:
            """The custom menu: kept as the latest one WeChat would show (recorded as kind "menu")."""
            token = request.query_params.get("access_token")
            try:
                payload = json.loads(await request.body())
            except ValueError:
                payload = None
            with self._lock:
                errcode, appid = self._check_token(token)
                if errcode == 0 and not (isinstance(payload, dict) and isinstance(payload.get("button"), list)):
                    errcode = 40016  # invalid button
                self._log("/cgi-bin/menu/create", errcode, kind="menu", appid=appid)
                if errcode:
                    return error(errcode)
                self._sent.append({"kind": "menu", "path": "/cgi-bin/menu/create", "touser": None, "content": None,
                                   "payload": payload, "time": time.time(), "access_token": token, "appid": appid})
                return error(0)

        @app.post("/cgi-bin/message/template/send")
        async def template_send(request: Request) -> dict[str, Any]:
            return await self._send(request, "template")

        @app.post("/cgi-bin/message/subscribe/send")
        async def subscribe_send(request: Request) -> dict[str, Any]:
            return await self._send(request, "subscribe")

        @app.post("/cgi-bin/message/subscribe/bizsend")
        async def subscribe_bizsend(request: Request) -> dict[str, Any]:
            return await self._send(request, "subscribe")

        @app.get("/sns/jscode2session")
        async def jscode2session(request: Request) -> dict[str, Any]:
            q = request.query_params  # wechatpy also sends access_token here; WeChat ignores it and so do we
            appid, code = q.get("appid", ""), q.get("js_code", "")
            with self._lock:
                login = self._codes.get(code)
                if appid not in self.apps:
                    errcode = 40013
                elif q.get("secret") != self.apps[appid]:
                    errcode = 40125
                elif q.get("grant_type") != "authorization_code":
                    errcode = 40002
                elif login is None:
                    errcode = 40029
                elif login.used:
                    errcode = 40163
                else:
                    errcode = 0
                self._log("/sns/jscode2session", errcode, appid=appid, code=code)
                if errcode or login is None:
                    return error(errcode)
                login.used = True
                body = {"openid": login.openid, "session_key": base64.b64encode(secrets.token_bytes(16)).decode()}
                if login.unionid:
                    body["unionid"] = login.unionid
                return body

        @app.get("/_fake/sent")
        async def fake_sent() -> JSONResponse:
            return JSONResponse(self.sent())

        @app.get("/_fake/calls")
        async def fake_calls() -> JSONResponse:
            return JSONResponse(self.calls())

        return app
