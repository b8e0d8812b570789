"""GET/POST /wechat: the official account's server URL (WeChat's 服务器配置)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from bot.channels.wechat.inbound import Rejected
from bot.channels.wechat.official_account import OfficialAccount

log = logging.getLogger(__name__)
router = APIRouter(tags=["wechat"])


def _account(request: Request) -> OfficialAccount:
    account: OfficialAccount | None = getattr(request.app.state, "wechat", None)
    if account is None:
        raise HTTPException(status_code=404, detail="未配置微信公众号（WECHAT_TOKEN 等）")
    return account


async def _read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes: an oversized body is refused before it is held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(status_code=413, detail="消息体过大")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(status_code=413, detail="消息体过大")
    return bytes(body)


@router.get("/wechat", response_class=PlainTextResponse)
async def verify(request: Request) -> str:
    account = _account(request)
    try:
        return account.verifier.verify_url(request.query_params)
    except Rejected as exc:
        log.warning("wechat URL verification refused: %s", exc.detail)
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc


@router.post("/wechat")
async def receive(request: Request) -> Response:
    account = _account(request)
    body = await _read_body(request, request.app.state.settings.wechat_max_body_bytes)
    try:
        inbound = account.verifier.open(request.query_params, body)
    except Rejected as exc:
        log.warning("wechat message refused (%d): %s", exc.status_code, exc.detail)
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
    reply = await account.handle(inbound)
    if reply is None:
        # WeChat's documented “no passive reply”: it neither retries nor shows an error.
        return PlainTextResponse("success")
    return Response(content=reply, media_type="application/xml")
