"""The FastAPI application: routers per resource, shared clients created once per process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.admin.routes import install as install_staff_desk
from bot.api.routes import (
    auth,
    chat,
    complaint_dialogue,
    complaints,
    dialogue,
    enterprise,
    guides,
    health,
    notices,
    policies,
    policy_dialogue,
    wechat,
)
from bot.api.sessions import make_signer
from bot.channels import web
from bot.channels.messages import Message
from bot.channels.rasa import RasaClient
from bot.channels.wechat.setup import open_mini_program, open_official_account
from bot.complaints.notifications import answer_messages
from bot.config import ROOT, Settings, get_settings
from bot.guides.catalog import CatalogStore
from bot.guides.dialogue import not_understood
from bot.guides.versions import DatabaseSource
from bot.policies.catalog import PolicyStore
from bot.store.db import make_engine, upgrade_database
from bot.worker import open_queue

log = logging.getLogger(__name__)

_FIELD_NAMES = {"user_id": "user_id（用户标识）", "text": "text（消息）", "payload": "payload（按钮）"}


def known_intents(domain_path: Path) -> frozenset[str]:
    """Button payloads may only name intents the assistant knows."""
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8"))
    return frozenset(i if isinstance(i, str) else next(iter(i)) for i in domain.get("intents", []))


def _validation_message(exc: RequestValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = _FIELD_NAMES.get(loc[0], loc[0]) if loc else ""
        kind = err.get("type", "")
        if kind == "json_invalid":
            return "请求体不是有效的 JSON"
        if kind == "missing":
            parts.append(f"缺少 {field}" if field else "请求体不能为空")
        elif kind == "value_error":
            parts.append(str(err.get("ctx", {}).get("error", err.get("msg"))))
        elif kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
            return "请求体应为 JSON 对象"
        elif field:
            parts.append(f"{field} 格式不对")
        else:
            parts.append("请求格式不对")
    return "；".join(dict.fromkeys(parts)) or "请求格式不对"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Alembic, not create_all: every process starts on the migrated schema.
        await asyncio.to_thread(upgrade_database, settings.database_url)
        app.state.rasa = RasaClient(settings.rasa_url, settings.rasa_timeout_seconds)

        async def pending_wechat_answers(openid: str) -> list[Message]:
            return await asyncio.to_thread(
                answer_messages, app.state.engine, lambda: app.state.catalog_store.get().wording, openid, "wechat",
                ("wechat",),
            )

        app.state.wechat = open_official_account(
            settings, app.state.rasa, lambda: not_understood(app.state.catalog_store.get()), pending_wechat_answers
        )
        app.state.mini_program = open_mini_program(settings)
        # The job queue: the staff desk enqueues pushes there (the worker sweeps for any it missed).
        app.state.jobs = open_queue(settings) if settings.redis_url else None
        yield
        if app.state.jobs is not None:
            await app.state.jobs.aclose()
        if app.state.wechat is not None:
            await app.state.wechat.aclose()
        await app.state.rasa.aclose()
        app.state.engine.dispose()

    app = FastAPI(title="一件事一次办 助手", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    # The files in guides/ with the versions staff published in the browser over them; every
    # process polls the database's publication marker, so a publish reaches all of them in seconds.
    app.state.catalog_store = CatalogStore(
        settings.guides_dir, settings.guides_check_interval, DatabaseSource(lambda: app.state.engine)
    )
    app.state.policy_store = PolicyStore(  # the policies likewise (免申即享)
        settings.guides_dir, settings.guides_check_interval, DatabaseSource(lambda: app.state.engine)
    )
    app.state.known_intents = known_intents(ROOT / "dialogues" / "domain.yml")
    app.state.sessions = make_signer(settings)
    app.state.wechat = None
    app.state.mini_program = None
    app.state.jobs = None

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers an undecodable body with an English 400; keep every answer Chinese.
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return JSONResponse(status_code=422, content={"detail": "请求体不是有效的 JSON"})
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _validation_message(exc)})

    routers = (
        health.router, auth.router, chat.router, dialogue.router, guides.router, notices.router, complaints.router, wechat.router,
        web.router, complaint_dialogue.router,
    )
    for router in routers:
        app.include_router(router)
    # 免申即享: binding, policies, 兑现, and the chat's steps over them
    for router in (enterprise.router, policies.router, policies.staff_router, policy_dialogue.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    install_staff_desk(app, settings)  # the staff desk: /admin pages, /admin/api, /admin/static
    return app
