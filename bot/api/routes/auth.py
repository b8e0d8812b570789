"""Sign-in for the mini-program (wx.login code → session token) and the demo page (anonymous)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from bot.api.sessions import Session, SessionSigner
from bot.channels.wechat.mini_program import LoginRefused, LoginUnavailable, MiniProgram
from bot.store.privacy import mask

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    code: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")


class SessionResponse(BaseModel):
    token: str
    token_type: str = "Bearer"
    expires_at: int
    demo: bool
    user_id: str | None = None  # shown for demo identities only


def _response(token: str, session: Session) -> SessionResponse:
    return SessionResponse(token=token, expires_at=session.expires_at, demo=session.demo,
                           user_id=session.user_id if session.demo else None)


@router.post("/login")
async def login(body: LoginRequest, request: Request) -> SessionResponse:
    mini_program: MiniProgram | None = request.app.state.mini_program
    if mini_program is None:
        raise HTTPException(status_code=404, detail="未启用小程序登录（MP_APP_ID 未配置）")
    try:
        openid = await mini_program.openid_for(body.code)
    except LoginRefused as exc:
        raise HTTPException(status_code=401, detail="登录凭证无效或已过期，请重新登录") from exc
    except LoginUnavailable as exc:
        raise HTTPException(status_code=503, detail="微信登录服务暂时不可用，请稍后再试") from exc
    signer: SessionSigner = request.app.state.sessions
    token, session = signer.issue(openid)
    log.info("mini-program login for %s", mask(openid))
    return _response(token, session)


@router.post("/demo")
async def demo(request: Request) -> SessionResponse:
    if not request.app.state.settings.demo_chat_enabled:
        raise HTTPException(status_code=404, detail="演示入口未开放")
    signer: SessionSigner = request.app.state.sessions
    token, session = signer.issue_demo()
    return _response(token, session)
