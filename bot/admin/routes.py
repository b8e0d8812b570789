"""The staff desk's pages (/admin/...) and its JSON (/admin/api/...); ``install(app, settings)`` mounts both.

Pages: sign-in and logout, the queue (/admin/complaints), a ticket with its history and the
action forms (/admin/complaints/{no}, POST .../{action}), statistics (/admin/complaints/stats).
JSON, read-only: /admin/api/me, /admin/api/complaints, /admin/api/complaints/{no}, /admin/api/stats.

Access: signed-in staff only (pages redirect to sign-in, the API answers 401); staff see and work
their department's tickets, administrators all (another department's ticket: 403 on the page, the
action and the API). Every POST form is checked for the session's CSRF token.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import redis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from bot.admin import auth, queries, stats, views
from bot.admin.auth import Desk, StaffUser
from bot.admin.forms import Form, read_form
from bot.admin.ratelimit import LoginLimiter
from bot.api.routes.complaints import get_catalog_or_none, get_rules
from bot.complaints import notifications, service
from bot.complaints.models import STATUS_LABELS, Ticket
from bot.complaints.staff import authenticate
from bot.config import Settings
from bot.push.jobs import enqueue_answer
from bot.store.db import SessionDep, begin_write
from bot.store.privacy import mask

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
BUSY = "系统繁忙，请稍后再试"
CSRF_REFUSED = "页面已过期或来源不明，请刷新页面后再试"

router = APIRouter(prefix="/admin", include_in_schema=False)
api = APIRouter(prefix="/admin/api", tags=["staff desk"])

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every value is escaped: citizens' texts and staff answers are text, never markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals.update(
    beijing=views.beijing, status_labels=STATUS_LABELS, actions=views.ACTIONS, channel_labels=views.CHANNEL_LABELS,
)

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # No script at all; styles only from the desk's own stylesheet; forms post to the desk only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the desk on ``app``: its routers, its static files, its state (``app.state.admin``)."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2) if settings.redis_url else None
    limiter = LoginLimiter(
        settings.admin_login_max_failures, settings.admin_login_window_minutes * 60, client, settings.redis_key_prefix,
    )
    app.state.admin = Desk(settings, limiter)
    app.include_router(router)
    app.include_router(api)
    from bot.admin.guides import routes as guide_routes  # the guide editor; imports this module

    guide_routes.install(app, settings)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")


def render(name: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    context.setdefault("user", None)
    context.setdefault("flash", None)
    context.setdefault("csrf", context["user"].csrf if context["user"] else "")
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={**_HEADERS, **(headers or {})})


def error_page(user: StaffUser | None, status_code: int, message: str) -> HTMLResponse:
    titles = {403: "无权访问", 404: "没有找到", 409: "操作冲突", 503: "系统繁忙"}
    return render("error.html", status_code, user=user, title=titles.get(status_code, "出错了"), message=message)


# --- who --------------------------------------------------------------------------------------------


def _user(request: Request, session: Session) -> StaffUser | None:
    try:
        return auth.current_user(request, session)
    except SQLAlchemyError as exc:
        session.rollback()
        log.exception("staff desk: session look-up failed")
        raise HTTPException(status_code=503, detail=BUSY) from exc


def page_user(request: Request, session: SessionDep) -> StaffUser:
    user = _user(request, session)
    if user is None:
        raise auth.login_redirect(request)
    return user


def api_user(request: Request, session: SessionDep) -> StaffUser:
    user = _user(request, session)
    if user is None:
        raise auth.api_unauthorized()
    return user


PageUser = Annotated[StaffUser, Depends(page_user)]
ApiUser = Annotated[StaffUser, Depends(api_user)]
FormDep = Annotated[Form, Depends(read_form)]


def _csrf_ok(request: Request, form: Form, user: StaffUser) -> bool:
    return auth.same_origin(request) and auth.tokens_match(user.csrf, form.get("csrf"))


def _clock(request: Request) -> queries.Clock:
    return queries.Clock.at(auth.desk_of(request).clock())


# --- sign-in ----------------------------------------------------------------------------------------

LOGIN_NOTES = {"logged_out": "您已退出登录。", "expired": "登录已过期，请重新登录。"}


def _login_page(request: Request, status_code: int = 200, *, error: str | None = None, username: str = "",
                next_path: str | None = None) -> HTMLResponse:
    token = auth.login_form_token(request)
    note = LOGIN_NOTES.get(request.query_params.get("msg", ""))
    response = render(
        "login.html", status_code, csrf=token, error=error, note=note, username=username,
        next=auth.safe_next(next_path if next_path is not None else request.query_params.get("next")),
    )
    auth.set_login_cookie(request, response, token)
    return response


@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(auth.HOME_PATH, status_code=303)


@router.get("/login")
def login_page(request: Request, session: SessionDep) -> Response:
    if _user(request, session) is not None:
        return RedirectResponse(auth.safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/login")
def login(request: Request, session: SessionDep, form: FormDep) -> Response:
    desk = auth.desk_of(request)
    username = form.get("username").strip().lower()[:64]
    password = form.get("password")[:1024]
    next_path = auth.safe_next(form.get("next"))
    if not auth.same_origin(request) or not auth.tokens_match(request.cookies.get(auth.LOGIN_COOKIE), form.get("csrf")):
        return _login_page(request, 403, error="登录页面已过期，请重新输入后登录", username=username, next_path=next_path)
    if not username or not password:
        return _login_page(request, 422, error="请输入用户名和密码", username=username, next_path=next_path)
    address = auth.client_address(request)
    if desk.limiter.blocked(username, address):
        log.warning("staff login refused (too many failures): %s from %s", mask(username), mask(address))
        return _login_page(request, 429, error=auth.LOCKED_OUT, username=username, next_path=next_path)
    try:
        begin_write(session)  # SQLite: a rehash or the new session is written after the read
        account = authenticate(session, username, password)
        if account is None:
            session.rollback()
            desk.limiter.failed(username, address)
            log.warning("staff login failed: %s from %s", mask(username), mask(address))
            return _login_page(request, 401, error=auth.BAD_CREDENTIALS, username=username, next_path=next_path)
        token = auth.open_session(session, account, desk, address)
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("staff login: database error")
        return _login_page(request, 503, error=BUSY, username=username, next_path=next_path)
    desk.limiter.succeeded(username, address)
    log.info("staff login: %s (%s)", account.username, account.department)
    response = RedirectResponse(next_path, status_code=303, headers={"Cache-Control": "no-store"})
    auth.set_session_cookie(request, response, token, desk)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: PageUser, form: FormDep) -> Response:
    if not _csrf_ok(request, form, user):
        return error_page(user, 403, CSRF_REFUSED)
    try:
        auth.close_session(session, user)
    except SQLAlchemyError:
        session.rollback()
        log.exception("staff logout: database error")
        return error_page(user, 503, BUSY)
    log.info("staff logout: %s", user.username)
    response = RedirectResponse(f"{auth.LOGIN_PATH}?msg=logged_out", status_code=303, headers={"Cache-Control": "no-store"})
    auth.clear_session_cookie(request, response)
    return response


# --- the queue --------------------------------------------------------------------------------------


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 100_000))
    except ValueError:
        return 1


def _status_filter(raw: str | None) -> str:
    return raw if raw in queries.FILTERS else "open"


@router.get("/complaints")
def queue_page(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    status = _status_filter(request.query_params.get("status"))
    clock = _clock(request)
    try:
        page = queries.queue(session, user, status, _page_number(request.query_params.get("page")), clock)
    except SQLAlchemyError:
        session.rollback()
        log.exception("staff desk: queue failed")
        return error_page(user, 503, BUSY)
    rows = [
        {"ticket": t, "urgency": clock.urgency(t), "phone": views.list_phone(t.phone), "summary": views.summary(t)}
        for t in page.tickets
    ]
    done = request.query_params.get("done")
    flash = views.DONE.get(done or "")
    if flash and (no := request.query_params.get("no")):
        flash = f"工单 {no}：{flash}"
    return render(
        "queue.html", user=user, csrf=user.csrf, rows=rows, page=page, status=status, filters=queries.FILTERS, flash=flash,
        today=clock.today,
    )


@api.get("/me")
def api_me(user: ApiUser) -> dict[str, Any]:
    return {"username": user.username, "department": user.department, "role": "admin" if user.admin else "staff"}


@api.get("/complaints")
def api_queue(request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    status = _status_filter(request.query_params.get("status"))
    clock = _clock(request)
    try:
        page = queries.queue(session, user, status, _page_number(request.query_params.get("page")), clock)
    except SQLAlchemyError as exc:
        session.rollback()
        raise HTTPException(status_code=503, detail=BUSY) from exc
    return {
        "tickets": [views.ticket_row_json(t, clock) for t in page.tickets],
        "total": page.total, "page": page.page, "pages": page.pages, "overdue": page.overdue, "due_soon": page.due_soon,
        "status": status,
    }


# --- statistics -------------------------------------------------------------------------------------


def _period(request: Request, today: date) -> tuple[date | None, date | None, str | None]:
    """The period asked for (``from``/``to``, YYYY-MM-DD, or ``period``=30d|month|year|all); default this year."""
    params = request.query_params
    preset = params.get("period")
    if preset == "all":
        return None, None, None
    if preset == "30d":
        return today - timedelta(days=29), today, None
    if preset == "month":
        return today.replace(day=1), today, None
    start_raw, end_raw = params.get("from"), params.get("to")
    if not start_raw and not end_raw:
        return today.replace(month=1, day=1), today, None
    try:
        start = date.fromisoformat(start_raw) if start_raw else None
        end = date.fromisoformat(end_raw) if end_raw else None
    except ValueError:
        return today.replace(month=1, day=1), today, "日期格式不对，应为 年-月-日（如 2026-01-01），已按本年统计"
    if start and end and start > end:
        return end, start, "开始日期晚于结束日期，已对调"
    return start, end, None


def _report(request: Request, session: Session, user: StaffUser) -> tuple[stats.Report, str | None]:
    now = auth.desk_of(request).clock()
    start, end, problem = _period(request, queries.Clock.at(now).today)
    return stats.report(session, user, now, start, end), problem


@router.get("/complaints/stats")
def stats_page(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    try:
        report, problem = _report(request, session, user)
    except SQLAlchemyError:
        session.rollback()
        log.exception("staff desk: statistics failed")
        return error_page(user, 503, BUSY)
    rows = [*report.departments, *([report.overall] if report.overall else [])]
    return render("stats.html", user=user, csrf=user.csrf, report=report, rows=rows, metrics=stats.METRICS, problem=problem)


def _rate_json(rate: stats.Rate) -> dict[str, Any]:
    return {"numerator": rate.numerator, "denominator": rate.denominator, "rate": rate.value}


def _stats_json(row: stats.DepartmentStats) -> dict[str, Any]:
    return {
        "department": row.department, "total": row.total, "open_overdue": row.open_overdue,
        **{key: _rate_json(getattr(row, key)) for key, _, _ in stats.METRICS},
    }


@api.get("/stats")
def api_stats(request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    try:
        report, problem = _report(request, session, user)
    except SQLAlchemyError as exc:
        session.rollback()
        raise HTTPException(status_code=503, detail=BUSY) from exc
    if problem:
        raise HTTPException(status_code=422, detail=problem)
    return {
        "start": report.start.isoformat() if report.start else None,
        "end": report.end.isoformat() if report.end else None,
        "today": report.today.isoformat(),
        "departments": [_stats_json(r) for r in report.departments],
        "overall": _stats_json(report.overall) if report.overall else None,
        "definitions": {key: {"label": label, "definition": text} for key, label, text in stats.METRICS},
    }


# --- one ticket -------------------------------------------------------------------------------------


def _detail(
    request: Request, session: Session, user: StaffUser, ticket: Ticket, status_code: int = 200, *,
    errors: dict[str, str] | None = None, values: dict[str, Any] | None = None, conflict: str | None = None,
) -> HTMLResponse:
    clock = _clock(request)
    events = service.history(session, ticket)
    rules = get_rules(request)
    done = request.query_params.get("done") if status_code == 200 else None
    available = views.available_actions(ticket, user)
    values = values or {}
    # What was typed into a form the ticket's status no longer offers: shown, so it is not lost.
    unsaved = next((values.get(k) for k in ("answer", "reason", "note") if values.get(k)), None)
    if not errors or all(action in available for action in errors):
        unsaved = None
    return render(
        "ticket.html", status_code, user=user, csrf=user.csrf, ticket=ticket, urgency=clock.urgency(ticket),
        phone=views.full_phone(ticket.phone), citizen=mask(ticket.user_id), history=views.history_lines(events),
        available=available, directory=rules.departments, errors=errors or {}, values=values, conflict=conflict,
        unsaved=unsaved, flash=views.DONE.get(done or ""),
    )


@router.get("/complaints/{no}")
def ticket_page(no: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    try:
        ticket = service.get_ticket(session, no)
        if ticket is None:
            return error_page(user, 404, f"没有找到工单 {no}")
        if not service.can(user.actor, ticket):
            log.warning("staff %s (%s) refused ticket %s of %s", user.username, user.department, no, ",".join(ticket.departments))
            return error_page(user, 403, f"工单 {no} 不是{user.department}承办的，无权查看")
        return _detail(request, session, user, ticket)
    except SQLAlchemyError:
        session.rollback()
        log.exception("staff desk: ticket page failed")
        return error_page(user, 503, BUSY)


@api.get("/complaints/{no}")
def api_ticket(no: str, request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    try:
        ticket = service.get_ticket(session, no)
        if ticket is None:
            raise HTTPException(status_code=404, detail=f"没有找到工单 {no}")
        if not service.can(user.actor, ticket):
            raise HTTPException(status_code=403, detail=f"工单 {no} 不是{user.department}承办的，无权查看")
        return views.ticket_detail_json(ticket, service.history(session, ticket), _clock(request))
    except SQLAlchemyError as exc:
        session.rollback()
        raise HTTPException(status_code=503, detail=BUSY) from exc


def _perform(action: str, request: Request, session: Session, user: StaffUser, ticket: Ticket, form: Form) -> None:
    actor = user.actor
    if action == "transfer":
        chosen = [d.strip() for d in form.getlist("departments") if d.strip()]
        if not user.admin:
            if chosen:
                raise service.NotAllowed("只有管理员可以指定承办部门；分办有误请用“退回”")
            service.transfer(session, ticket, actor, None, note=form.get("note"))
            return
        known = set(get_rules(request).departments) | set(ticket.departments)
        if unknown := [d for d in chosen if d not in known]:
            raise service.InvalidInput(f"部门名录中没有：{'、'.join(unknown)}")
        service.transfer(session, ticket, actor, chosen, note=form.get("note"))
    elif action == "start":
        service.start(session, ticket, actor)
    elif action == "answer":
        service.answer(session, ticket, form.get("answer"), actor)
    elif action == "return":
        department = (form.get("department").strip() or None) if user.admin else None
        if user.admin and department is None:
            raise service.InvalidInput("请选择退回的部门")
        service.return_ticket(
            session, ticket, form.get("reason"), actor, rules=get_rules(request), catalog=get_catalog_or_none(request),
            department=department,
        )
    elif action == "revisit":
        service.revisit(session, ticket, actor, form.get("note"))
    elif action == "close":
        service.close(session, ticket, actor, form.get("note"))


@router.post("/complaints/{no}/{action}")
def ticket_action(no: str, action: str, request: Request, session: SessionDep, user: PageUser, form: FormDep) -> Response:
    if action not in views.ACTIONS:
        return error_page(user, 404, "没有这个操作")
    if not _csrf_ok(request, form, user):
        log.warning("staff desk: CSRF check failed for %s on %s/%s", user.username, no, action)
        return error_page(user, 403, CSRF_REFUSED)
    values = {k: form.get(k) for k in ("answer", "reason", "note", "department")} | {"departments": form.getlist("departments")}
    try:
        begin_write(session)  # SQLite: wait for the write lock before reading the ticket
        ticket = service.get_ticket(session, no)
        if ticket is None:
            session.rollback()
            return error_page(user, 404, f"没有找到工单 {no}")
        if not service.can(user.actor, ticket):
            session.rollback()
            log.warning("staff %s (%s) refused %s on ticket %s", user.username, user.department, action, no)
            return error_page(user, 403, f"工单 {no} 不是{user.department}承办的，无权处理")
        seen = form.get("version")
        if seen and seen != str(ticket.version):
            raise service.Conflict(
                f"工单 {no} 在您打开页面后已被更新（现在是“{ticket.status_label}”），请查看下方最新情况后再操作"
            )
        _perform(action, request, session, user, ticket, form)
        still_ours = service.can(user.actor, ticket)
        push = notifications.pending_push(session, ticket) if action == "answer" else None
        session.commit()
    except service.NotAllowed as exc:
        session.rollback()
        return error_page(user, 403, exc.message)
    except service.ComplaintError as exc:
        session.rollback()
        return _action_failed(request, session, user, no, action, exc, values)
    except SQLAlchemyError:
        session.rollback()
        log.exception("staff desk: %s on %s failed", action, no)
        return error_page(user, 503, BUSY)
    log.info("staff %s: %s on ticket %s", user.username, action, no)
    # The answer goes to a WeChat user now, by the worker (its sweep would within a minute).
    background = BackgroundTask(enqueue_answer, request.app.state.jobs, push) if push is not None else None
    if not still_ours:  # returned by its only department: no longer theirs to see
        return RedirectResponse(f"/admin/complaints?done={action}&no={quote(no)}", status_code=303, background=background)
    return RedirectResponse(f"/admin/complaints/{quote(no)}?done={action}", status_code=303, background=background)


def _action_failed(
    request: Request, session: Session, user: StaffUser, no: str, action: str, exc: service.ComplaintError,
    values: dict[str, Any],
) -> HTMLResponse:
    """The ticket page again, fresh from the database, with the error beside the form (409 also on top)."""
    try:
        ticket = service.get_ticket(session, no)
        if ticket is None:
            return error_page(user, 404, f"没有找到工单 {no}")
        conflict = exc.message if exc.status_code == 409 else None
        return _detail(request, session, user, ticket, exc.status_code, errors={action: exc.message}, values=values,
                       conflict=conflict)
    except SQLAlchemyError:
        session.rollback()
        return error_page(user, 503, BUSY)

