"""Issued 一次告知 notices: GET /api/v1/notices/{id} (JSON) and GET /notices/{id} (printable page).

The notice id is random and unguessable, so the link itself is the key: responses are never
cached by shared caches or indexed, the page sends no Referer, and no user id is ever returned.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.channels.web import STATIC_DIR
from bot.store import notices
from bot.store.db import SessionDep
from bot.store.privacy import mask
from bot.store.schemas import NoticeOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["notices"])

TEMPLATES_DIR = STATIC_DIR.parent / "templates"
NOT_FOUND = "没有找到这份告知单"
BEIJING = timezone(timedelta(hours=8), "北京时间")  # China has one time zone and no DST

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every value is escaped; nothing in the template is marked safe
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

_PRIVATE = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _csp(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _days(value: int | None) -> str:
    if value is None:
        return ""
    return "即办（当场办结）" if value == 0 else f"{value}个工作日"


def _date(value: datetime) -> str:
    local = value.astimezone(BEIJING)
    return f"{local.year}年{local.month}月{local.day}日"


def _render(status_code: int, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _templates.get_template("notice.html").render(nonce=nonce, days=_days, **context)
    headers = {**_PRIVATE, "Content-Security-Policy": _csp(nonce)}
    return HTMLResponse(html, status_code=status_code, headers=headers)


@router.get(
    "/api/v1/notices/{notice_id}",
    responses={404: {"description": NOT_FOUND, "content": {"application/json": {"example": {"detail": NOT_FOUND}}}}},
)
def get_notice(notice_id: str, session: SessionDep, response: Response) -> NoticeOut:
    notice = notices.get(session, notice_id)
    if notice is None:
        log.info("notice not found: %s", mask(notice_id))
        raise HTTPException(status_code=404, detail=NOT_FOUND, headers=_PRIVATE)
    response.headers.update(_PRIVATE)
    return NoticeOut.from_notice(notice)


@router.get("/notices/{notice_id}", response_class=HTMLResponse, include_in_schema=False)
def notice_page(notice_id: str, session: SessionDep) -> HTMLResponse:
    notice = notices.get(session, notice_id)
    if notice is None:
        log.info("notice page not found: %s", mask(notice_id))
        return _render(404, notice=None)
    out = NoticeOut.from_notice(notice)
    phone = out.checklist.where.phone or ""
    return _render(
        200,
        notice=out,
        checklist=out.checklist,
        issued=_date(out.created_at),
        tel=re.sub(r"[^0-9+\-,]", "", phone),
    )
