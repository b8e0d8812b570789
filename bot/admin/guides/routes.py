"""/admin/guides: the guide editor's pages, and /admin/api/guides: the same as JSON.

Pages (server-rendered, no script of their own): the list of documents with their state; a
guide's overview (sub-items, questions, materials, problems, publish); one form per section or
entry (基本信息, a sub-item, a question, a material) with errors beside the fields; the YAML view;
the preview (WeChat text with byte counts, the mini-program card, the flow diagram); history with
diffs and restore; the audit log. Every change goes to the document's draft first; publishing
makes it what citizens are served, in every process within seconds.

Access: signed-in staff with the editor right edit the guides their department leads;
administrators edit everything, including the reply wording. Anything else is 403, recorded in the
audit log. Every POST carries the session's CSRF token (pages: a hidden field; the API: the
X-CSRF-Token header).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.admin import auth
from bot.admin.auth import StaffUser
from bot.admin.forms import Form, read_body, read_form_within
from bot.admin.guides import preview as previews
from bot.admin.routes import BUSY, CSRF_REFUSED, ApiUser, PageUser, error_page, render
from bot.api.routes.complaints import get_rules
from bot.channels.wechat.render import WECHAT_TEXT_LIMIT, WeChatRenderer
from bot.complaints.calendar import local_date
from bot.config import Settings
from bot.guides import documents, editing, versions
from bot.guides.catalog import Catalog, CatalogStore
from bot.guides.documents import Checked
from bot.guides.flowchart import flowchart_svg
from bot.guides.loader import MAX_FILE_BYTES, GuideFileError, Problem, guide_files, parse_text
from bot.guides.schema import Guide
from bot.guides.versions import DocRef, Editor, VersionError
from bot.policies.validity import ENDING_SOON_DAYS, Validity, validity
from bot.store.content import AuditEntry, ContentDraft, ContentRevision
from bot.store.db import SessionDep, begin_write

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin/guides", include_in_schema=False)
api = APIRouter(prefix="/admin/api/guides", tags=["guide editor"])

DOC_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SECTIONS = {"items": "事项", "questions": "问题", "materials": "材料"}
MAX_FORM_FIELDS = 600
FORM_FORMS = ("原件", "复印件", "原件及复印件", "电子版", "现场填写", "线上填写")
# The preview frames the card page of the desk itself; nothing else may frame either.
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
CARD_HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'self'; "
        "base-uri 'none'; form-action 'none'"
    ),
}
SVG_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
}
ACTION_LABELS = {
    "draft_saved": "保存草稿", "published": "发布", "restored": "恢复", "draft_discarded": "放弃草稿",
    "denied": "被拒绝", "exported": "导出到文件",
}


@dataclass
class EditorState:
    """The editor's per-app things: the WeChat renderer used for previews."""

    renderer: WeChatRenderer


def install(app: FastAPI, settings: Settings) -> None:
    app.state.guide_editor = EditorState(
        WeChatRenderer(settings.guides_dir / "templates" / "wechat", settings.public_base_url)
    )
    app.include_router(router)
    app.include_router(api)


# --- helpers --------------------------------------------------------------------------------------


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _guides_dir(request: Request) -> Path:
    return _settings(request).guides_dir


def _store(request: Request) -> CatalogStore:
    return request.app.state.catalog_store


def _catalog(request: Request) -> Catalog:
    return _store(request).get()


def _today(request: Request) -> date:
    """Beijing's today by the desk's clock (tests set the clock, and with it a policy's validity)."""
    return local_date(auth.desk_of(request).clock())


def _ref(kind: str, doc_id: str) -> DocRef:
    if not DOC_ID.match(doc_id):
        raise VersionError("编号格式不对")
    return DocRef(kind, doc_id)


def _who(user: StaffUser) -> Editor:
    return Editor(user.username, user.department)


def _plain(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return parse_text(text.encode("utf-8"), name).data
    except GuideFileError:
        return None


@dataclass
class Working:
    """A document as the editor works on it: what is served, the draft, and the text being edited."""

    ref: DocRef
    published: versions.Published
    draft: ContentDraft | None
    text: str
    data: Any
    checked: Checked

    @property
    def title(self) -> str:
        if isinstance(self.data, dict) and self.data.get("title"):
            return str(self.data["title"])
        return documents.KIND_LABELS.get(self.ref.kind, self.ref.kind) if self.ref.kind != "guide" else self.ref.doc_id

    @property
    def lock(self) -> int:
        return self.draft.lock_version if self.draft else 0


def _working(request: Request, session: Session, ref: DocRef) -> Working:
    guides_dir = _guides_dir(request)
    current = versions.published(session, ref, guides_dir)
    draft = versions.draft_of(session, ref)
    text = draft.content if draft else current.text
    if text is None:
        raise versions.NotFound(f"没有找到 {ref.label}")
    name = documents.display_name(ref)
    checked = documents.check(
        ref, text, _catalog(request), guides_dir, versions.file_text(guides_dir, ref), today=_today(request),
    )
    return Working(ref, current, draft, text, checked.data if checked.data is not None else _plain(text, name), checked)


def _refused(session: Session, user: StaffUser, ref: DocRef, reason: str) -> None:
    session.rollback()
    versions.record(session, _who(user), "denied", ref, reason=reason)
    session.commit()
    log.warning("guide editor: %s (%s) refused on %s: %s", user.username, user.department, ref.label, reason)


class Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _may(session: Session, user: StaffUser, working: Working, new: Any = None) -> None:
    reason = documents.refusal(user, working.ref, working.data, new)
    if reason is None and working.draft is None and working.published.text is not None:
        # The served version decides too: a draft cannot be used to take over another's guide.
        reason = documents.refusal(user, working.ref, _plain(working.published.text, ""), new)
    if reason:
        _refused(session, user, working.ref, reason)
        raise Refused(reason)


def _csrf_ok(request: Request, given: str | None, user: StaffUser) -> bool:
    return auth.same_origin(request) and auth.tokens_match(user.csrf, given)


def _field_errors(problems: list[Problem], prefix: tuple[str | int, ...], *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Errors about the entry at ``prefix`` as {form field name: message}, to show beside the fields."""
    errors: dict[str, str] = {}
    for problem in problems:
        loc = problem.loc
        if problem.severity != "错误" or loc[: len(prefix)] != prefix or (loc and loc[0] in skip):
            continue
        rest = loc[len(prefix):]
        key = ".".join(str(p) for p in rest) or "_"
        if rest[:1] == ("choices",) and len(rest) >= 3:
            key = f"choice.{rest[1]}.{rest[2]}"
        elif rest[:1] == ("choices",):
            key = "choices"
        elif rest[:1] == ("materials",):
            key = "materials"
        elif rest[:1] == ("when",):
            key = "when"
        path = ".".join(str(p) for p in loc)
        message = problem.message.removeprefix(f"{path}：") if path else problem.message
        errors.setdefault(key, message)
    return errors


def _save(
    request: Request, session: Session, user: StaffUser, working: Working, new_text: str, lock: str,
) -> versions.ContentDraft:
    _may(session, user, working, _plain(new_text, ""))
    begin_write(session)
    return versions.save_draft(
        session, working.ref, new_text, _who(user), _guides_dir(request), lock_version=int(lock) if lock.isdigit() else None,
    )


def _doc_path(ref: DocRef) -> str:
    return f"/admin/guides/{ref.kind}/{ref.doc_id}"


def _redirect(path: str, **params: str) -> RedirectResponse:
    query = f"?{urlencode(params)}" if params else ""
    return RedirectResponse(path + query, status_code=303, headers={"Cache-Control": "no-store"})


def _departments(request: Request) -> list[str]:
    try:
        return list(get_rules(request).departments)
    except Exception:  # the rules file is someone else's to fix; the editor still works without the list
        log.exception("guide editor: department directory unavailable")
        return []


DONE = {
    "saved": "已保存到草稿。草稿还没有发布，群众看到的仍是线上版本。",
    "published": "已发布。所有服务进程将在几秒内使用新版本。",
    "restored": "已恢复并发布。",
    "discarded": "草稿已放弃。",
    "created": "已新建草稿，请补充内容后发布。",
    "deleted": "已删除并保存到草稿。",
    "moved": "已调整顺序并保存到草稿。",
}


# --- the list ---------------------------------------------------------------------------------------


@dataclass
class Row:
    ref: DocRef
    title: str
    department: str | None
    number: int
    published_at: Any
    published_by: str | None
    draft: ContentDraft | None
    editable: bool
    problems: int
    live: bool  # served now (a published version or the installed file)
    validity: Validity | None = None  # a policy's window as of today (None: not a policy, or unreadable dates)


def _rows(request: Request, session: Session, user: StaffUser) -> list[Row]:
    guides_dir = _guides_dir(request)
    catalog = _catalog(request)
    heads = {(r.kind, r.doc_id): r for r in versions.newest_per_document(session)}
    drafts = {(d.kind, d.doc_id): d for d in session.scalars(select(ContentDraft))}
    ids = {p.stem for p in guide_files(guides_dir)} | {k[1] for k in (*heads, *drafts) if k[0] == "guide"}
    policy_ids = {p.stem for p in (guides_dir / "policies").glob("*.yml")}
    policy_ids |= {k[1] for k in (*heads, *drafts) if k[0] == "policy"}
    refs = [DocRef("guide", i) for i in sorted(ids)] + [DocRef("policy", i) for i in sorted(policy_ids)] + [versions.REPLIES]
    rows: list[Row] = []
    broken = {p.file for p in catalog.problems if p.severity == "错误"}
    today = _today(request)
    for ref in refs:
        head = heads.get((ref.kind, ref.doc_id))
        draft = drafts.get((ref.kind, ref.doc_id))
        text = head.content if head else versions.file_text(guides_dir, ref)
        data = _plain(draft.content if draft else text, "")
        title = str(data.get("title")) if isinstance(data, dict) and data.get("title") else (
            "回复用语（全部对话的措辞）" if ref.kind == "replies" else ref.doc_id
        )
        rows.append(Row(
            ref=ref, title=title, department=documents.owner(ref, data), number=head.number if head else 0,
            published_at=head.created_at if head else None, published_by=head.author if head else None, draft=draft,
            editable=documents.refusal(user, ref, data) is None,
            problems=int(documents.display_name(ref) in broken), live=text is not None,
            validity=_policy_validity(data, today) if ref.kind == "policy" else None,
        ))
    return rows


def _policy_validity(data: Any, today: date) -> Validity | None:
    """The window of the version shown (the draft when there is one); None when its dates do not parse
    (the document's checks say why)."""
    if not isinstance(data, dict):
        return None
    start, end = (d.date() if isinstance(d, datetime) else d for d in (data.get("valid_from"), data.get("valid_until")))
    if not isinstance(start, date) or not isinstance(end, date) or start > end:
        return None
    return validity(start, end, today)


@router.get("")
def list_page(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    try:
        rows = _rows(request, session, user)
    except SQLAlchemyError:
        session.rollback()
        log.exception("guide editor: list failed")
        return error_page(user, 503, BUSY)
    mine = request.query_params.get("show") != "all" and not user.admin
    shown = [r for r in rows if r.editable] if mine else rows
    windows = [r.validity.state for r in shown if r.validity]
    return render(
        "guides_list.html", user=user, rows=shown, mine=mine, total=len(rows), kinds=documents.KIND_LABELS,
        ending=windows.count("ending"), ended=windows.count("ended"), soon_days=ENDING_SOON_DAYS,
        flash=DONE.get(request.query_params.get("done", "")),
    )


# --- a new guide ------------------------------------------------------------------------------------


@router.get("/new")
def new_page(request: Request, user: PageUser) -> HTMLResponse:
    if not (user.admin or user.editor):
        return error_page(user, 403, "您的账号没有编辑办事指南的权限，请联系管理员开通")
    return render("guides_new.html", user=user, values={"department": user.department}, errors={},
                  departments=_departments(request))


@router.post("/new")
async def new_guide(request: Request, session: SessionDep, user: PageUser) -> Response:
    form = await read_form_within(request, 64 * 1024, 20)
    if not _csrf_ok(request, form.get("csrf"), user):
        return error_page(user, 403, CSRF_REFUSED)
    if not (user.admin or user.editor):
        return error_page(user, 403, "您的账号没有编辑办事指南的权限，请联系管理员开通")
    title = form.get("title").strip()
    department = form.get("department").strip() if user.admin else user.department
    audience = form.get("audience") if form.get("audience") in ("个人", "企业") else "个人"
    values = {"title": title, "department": department, "audience": audience, "id": form.get("id").strip()}
    errors: dict[str, str] = {}
    if not title or len(title) > 200:
        errors["title"] = "请填写名称（200 字以内），如：新生儿出生一件事"
    if not department:
        errors["department"] = "请填写牵头部门"
    taken = {p.stem for p in guide_files(_guides_dir(request))}
    try:
        taken |= {r.doc_id for r in versions.newest_per_document(session) if r.kind == "guide"}
        taken |= {d.doc_id for d in session.scalars(select(ContentDraft).where(ContentDraft.kind == "guide"))}
        doc_id = values["id"] or editing.make_id(title.removesuffix("一件事"), taken, "guide")
        if not DOC_ID.match(doc_id):
            errors["id"] = "编号只能用小写英文字母、数字和下划线，并以字母开头"
        elif doc_id in taken:
            errors["id"] = f"编号 {doc_id} 已被使用"
        if errors:
            return render("guides_new.html", 422, user=user, values=values, errors=errors, departments=_departments(request))
        text = editing.to_yaml(editing.new_guide(doc_id, title, department, audience))
        begin_write(session)
        versions.save_draft(session, DocRef("guide", doc_id), text, _who(user), _guides_dir(request))
        session.commit()
    except (SQLAlchemyError, IntegrityError):
        session.rollback()
        log.exception("guide editor: new guide failed")
        return error_page(user, 503, BUSY)
    log.info("guide editor: %s created guide %s", user.username, doc_id)
    return _redirect(f"/admin/guides/guide/{doc_id}", done="created")


# --- one document -----------------------------------------------------------------------------------


def _open(request: Request, session: Session, user: StaffUser, kind: str, doc_id: str) -> Working | HTMLResponse:
    try:
        return _working(request, session, _ref(kind, doc_id))
    except VersionError as exc:
        return error_page(user, exc.status_code, exc.message)
    except SQLAlchemyError:
        session.rollback()
        log.exception("guide editor: opening %s/%s failed", kind, doc_id)
        return error_page(user, 503, BUSY)


@router.get("/{kind}/{doc_id}")
def document_page(kind: str, doc_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    working = _open(request, session, user, kind, doc_id)
    if isinstance(working, HTMLResponse):
        return working
    if working.ref.kind == "policy":  # a policy is edited in its YAML view, with the policies' own checks
        return _yaml_page(request, user, working, working.text, [])
    context = _document_context(request, user, working)
    if working.ref.kind == "replies":
        return render("guides_replies.html", **context, values=_replies_values(working), errors={})
    return render("guides_document.html", **context)


def _document_context(request: Request, user: StaffUser, working: Working) -> dict[str, Any]:
    return {
        "user": user, "w": working, "doc": working.data if isinstance(working.data, dict) else {},
        "editable": documents.refusal(user, working.ref, working.data) is None,
        "flash": DONE.get(request.query_params.get("done", "")), "path": _doc_path(working.ref),
        "licences": _catalog(request).licences, "kinds": documents.KIND_LABELS,
    }


Work = Callable[[Working], Response]


def _post_page(
    request: Request, session: Session, user: StaffUser, kind: str, doc_id: str, form: Form, work: Work,
    fail: Callable[[Working, VersionError], Response] | None = None,
) -> Response:
    """The frame of every change made through a page: open the document, check the CSRF token, do
    ``work``, and answer a refusal (403), a failed check (``fail``, else the error page) or a
    database error (503) with the session rolled back."""
    working = _open(request, session, user, kind, doc_id)
    if isinstance(working, HTMLResponse):
        return working
    if not _csrf_ok(request, form.get("csrf"), user):
        return error_page(user, 403, CSRF_REFUSED)
    try:
        return work(working)
    except Refused as exc:
        return error_page(user, 403, exc.message)
    except VersionError as exc:
        session.rollback()
        return fail(working, exc) if fail else error_page(user, exc.status_code, exc.message)
    except IntegrityError:
        session.rollback()
        return error_page(user, 409, "有人同时发布了这份内容，请刷新后查看")
    except SQLAlchemyError:
        session.rollback()
        log.exception("guide editor: %s on %s/%s failed", request.url.path, kind, doc_id)
        return error_page(user, 503, BUSY)


# --- section forms ----------------------------------------------------------------------------------


def _entry(working: Working, section: str, entry_id: str) -> dict[str, Any] | None:
    data = working.data if isinstance(working.data, dict) else {}
    if entry_id == "new":
        return {}
    index = editing.entry_index(data, section, entry_id)
    return None if index is None else dict((data.get(section) or [])[index])


def _section_values(working: Working, section: str, entry: dict[str, Any]) -> dict[str, Any]:
    data = working.data
    if section == "materials":
        return editing.material_values(entry)
    if section == "questions":
        return editing.question_values(entry)
    return editing.item_values(data, entry)


def _section_page(
    request: Request, user: StaffUser, working: Working, section: str, entry_id: str, values: dict[str, Any],
    errors: dict[str, str], status_code: int = 200,
) -> HTMLResponse:
    data = working.data if isinstance(working.data, dict) else {}
    choices = editing.condition_choices(data, before=entry_id if section == "questions" and entry_id != "new" else None)
    if section == "questions" and entry_id == "new":
        choices = editing.condition_choices(data)
    return render(
        f"guides_{section}.html", status_code, user=user, w=working, doc=data, path=_doc_path(working.ref),
        entry_id=entry_id, values=values, errors=errors, choices=choices, licences=_catalog(request).licences,
        forms=FORM_FORMS, departments=_departments(request), section_label=SECTIONS[section],
        uses=editing.uses_of(data, section, entry_id) if entry_id != "new" else [],
        editable=documents.refusal(user, working.ref, working.data) is None,
    )


@router.get("/guide/{doc_id}/basic")
def basic_page(doc_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    working = _open(request, session, user, "guide", doc_id)
    if isinstance(working, HTMLResponse):
        return working
    return _basic_page(request, user, working, editing.basic_values(working.data or {}), {})


def _basic_page(request: Request, user: StaffUser, working: Working, values: dict[str, Any], errors: dict[str, str],
                status_code: int = 200) -> HTMLResponse:
    return render(
        "guides_basic.html", status_code, user=user, w=working, doc=working.data or {}, path=_doc_path(working.ref),
        values=values, errors=errors, departments=_departments(request),
        editable=documents.refusal(user, working.ref, working.data) is None,
    )


def _form_values(form: Form) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else v for k, v in form.fields().items()}


async def _guide_form(request: Request) -> Form:
    return await read_form_within(request, MAX_FILE_BYTES + 16 * 1024, MAX_FORM_FIELDS)


GuideForm = Annotated[Form, Depends(_guide_form)]


def _store_outcome(
    request: Request, session: Session, user: StaffUser, working: Working, new_data: dict[str, Any], lock: str,
    prefix: tuple[str | int, ...],
) -> dict[str, str]:
    """Check and save ``new_data`` as the draft. Schema errors in the part the form edits refuse the
    save (shown beside the fields); other problems are saved with the draft and block publishing."""
    new_text = editing.write_back(working.text, new_data)
    checked = documents.check(working.ref, new_text, _catalog(request), _guides_dir(request))
    if checked.guide is None:
        skip = tuple(SECTIONS) if prefix == () else ()
        if errors := _field_errors(checked.problems, prefix, skip=skip):
            return errors
    _save(request, session, user, working, new_text, lock)
    session.commit()
    return {}


@router.post("/guide/{doc_id}/basic")
def basic_save(doc_id: str, request: Request, session: SessionDep, user: PageUser, form: GuideForm) -> Response:
    def work(working: Working) -> Response:
        _may(session, user, working)
        outcome = editing.apply_basic(working.data or {}, form, may_change_department=user.admin)
        errors = outcome.errors or _store_outcome(request, session, user, working, outcome.data, form.get("lock"), ())
        if errors:
            return _basic_page(request, user, working, _form_values(form), errors, 422)
        return _redirect(_doc_path(working.ref), done="saved")

    def fail(working: Working, exc: VersionError) -> Response:
        return _basic_page(request, user, working, _form_values(form), {"_": exc.message}, exc.status_code)

    return _post_page(request, session, user, "guide", doc_id, form, work, fail)


# --- reply wording --------------------------------------------------------------------------------


def _replies_values(working: Working) -> dict[str, Any]:
    data = working.data if isinstance(working.data, dict) else {}
    return {"featured": "\n".join(data.get("featured") or []), "replies": dict(data.get("replies") or {})}


@router.post("/replies/replies")
def replies_save(request: Request, session: SessionDep, user: PageUser, form: GuideForm) -> Response:
    def work(working: Working) -> Response:
        _may(session, user, working)
        data = dict(working.data or {})
        replies = dict(data.get("replies") or {})
        for key in list(replies):
            submitted = form.get(f"reply.{key}", replies[key]).replace("\r\n", "\n")
            if submitted.strip() != str(replies[key]).strip():
                replies[key] = submitted
        data["replies"] = replies
        featured = editing.lines(form.get("featured"))
        if featured != list(data.get("featured") or []):
            data["featured"] = featured
        new_text = editing.write_back(working.text, data)
        checked = documents.check(working.ref, new_text, _catalog(request), _guides_dir(request),
                                  versions.file_text(_guides_dir(request), working.ref))
        if errors := {".".join(str(p) for p in pr.loc) or "_": pr.message for pr in checked.errors}:
            values = {"featured": form.get("featured"), "replies": replies}
            return render("guides_replies.html", 422, **_document_context(request, user, working), values=values, errors=errors)
        _save(request, session, user, working, new_text, form.get("lock"))
        session.commit()
        return _redirect(_doc_path(working.ref), done="saved")

    return _post_page(request, session, user, "replies", "replies", form, work)


# --- the YAML view ----------------------------------------------------------------------------------


@router.get("/{kind}/{doc_id}/yaml")
def yaml_page(kind: str, doc_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    working = _open(request, session, user, kind, doc_id)
    if isinstance(working, HTMLResponse):
        return working
    return _yaml_page(request, user, working, working.text, [])


def _yaml_page(request: Request, user: StaffUser, working: Working, text: str, problems: list[Problem],
               status_code: int = 200) -> HTMLResponse:
    return render(
        "guides_yaml.html", status_code, user=user, w=working, text=text, problems=problems or working.checked.problems,
        path=_doc_path(working.ref), editable=documents.refusal(user, working.ref, working.data) is None,
        max_bytes=MAX_FILE_BYTES,
    )


def _parse_yaml_text(ref: DocRef, raw: bytes) -> list[Problem]:
    """Problems that make the text unusable as a draft at all (not YAML, bombs, too large, not UTF-8)."""
    try:
        parsed = parse_text(raw, documents.display_name(ref))
    except GuideFileError as exc:
        return exc.problems
    if not isinstance(parsed.data, dict):
        return [Problem(documents.display_name(ref), 1, "内容应为键值对（YAML 映射）")]
    return []


@router.post("/{kind}/{doc_id}/yaml")
def yaml_save(kind: str, doc_id: str, request: Request, session: SessionDep, user: PageUser, form: GuideForm) -> Response:
    text = form.get("yaml").replace("\r\n", "\n")
    if text and not text.endswith("\n"):
        text += "\n"

    def work(working: Working) -> Response:
        _may(session, user, working)
        if problems := _parse_yaml_text(working.ref, text.encode("utf-8")):
            return _yaml_page(request, user, working, text, problems, 422)
        _save(request, session, user, working, text, form.get("lock"))
        session.commit()
        return _redirect(f"{_doc_path(working.ref)}/yaml", done="saved")

    def fail(working: Working, exc: VersionError) -> Response:
        problem = Problem(documents.display_name(working.ref), 1, exc.message)
        return _yaml_page(request, user, working, text, [problem], exc.status_code)

    return _post_page(request, session, user, kind, doc_id, form, work, fail)


# --- preview and diagram ----------------------------------------------------------------------------


def _source_guide(working: Working, request: Request, source: str) -> Guide | None:
    if source == "published" and working.published.text is not None:
        checked = documents.check(working.ref, working.published.text, _catalog(request), _guides_dir(request))
        return checked.guide
    return working.checked.guide


def _preview(
    request: Request, session: Session, user: StaffUser, doc_id: str,
) -> tuple[Working, str, previews.Preview] | HTMLResponse:
    working = _open(request, session, user, "guide", doc_id)
    if isinstance(working, HTMLResponse):
        return working
    source = "published" if request.query_params.get("source") == "published" else "draft"
    guide = _source_guide(working, request, source)
    if guide is None:
        return error_page(user, 422, "草稿有格式错误，无法预览；请先按提示修改")
    items, answers = previews.answers_from_query(request.query_params, guide)
    shown = previews.preview(_catalog(request), guide, items, answers, request.app.state.guide_editor.renderer)
    return working, source, shown


@router.get("/guide/{doc_id}/preview")
def preview_page(doc_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    found = _preview(request, session, user, doc_id)
    if isinstance(found, HTMLResponse):
        return found
    working, source, shown = found
    query = urlencode([(k, v) for k, v in request.query_params.multi_items()])
    return render(
        "guides_preview.html", headers=PREVIEW_HEADERS, user=user, w=working, path=_doc_path(working.ref), p=shown,
        source=source, query=query, limit=WECHAT_TEXT_LIMIT,
    )


@router.get("/guide/{doc_id}/preview/card")
def preview_card(doc_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    found = _preview(request, session, user, doc_id)
    if isinstance(found, HTMLResponse):
        return found
    return render("guides_card.html", headers=CARD_HEADERS, user=user, data=previews.messages_json(found[2].messages))


@router.get("/guide/{doc_id}/flow.svg")
def flow_svg(doc_id: str, request: Request, session: SessionDep, user: PageUser) -> Response:
    working = _open(request, session, user, "guide", doc_id)
    if isinstance(working, HTMLResponse):
        return working
    guide = _source_guide(working, request, request.query_params.get("source", "draft"))
    if guide is None:
        return error_page(user, 422, "草稿有格式错误，无法画出流程图")
    svg = flowchart_svg(guide, _catalog(request).licences)
    return Response(svg, media_type="image/svg+xml; charset=utf-8", headers=SVG_HEADERS)


# --- publish, discard, history, restore -----------------------------------------------------------


def _publish(request: Request, session: Session, user: StaffUser, working: Working, note: str, lock: str,
             overwrite: bool) -> ContentRevision:
    if working.draft is None:
        raise versions.NotFound("没有可发布的草稿")
    _may(session, user, working)
    if not working.checked.publishable:
        first = working.checked.errors[0]
        raise VersionError(f"草稿还有 {len(working.checked.errors)} 处错误，不能发布（第一处：{first.message}）")
    begin_write(session)
    row = versions.publish(
        session, working.ref, _who(user), _guides_dir(request), note, lock_version=int(lock) if lock.isdigit() else None,
        overwrite=overwrite,
    )
    session.commit()
    _store(request).refresh()  # this process serves it at once; the others at their next check
    log.info("guide editor: %s published %s version %d", user.username, working.ref.label, row.number)
    return row


@router.post("/{kind}/{doc_id}/publish")
def publish_page(kind: str, doc_id: str, request: Request, session: SessionDep, user: PageUser, form: GuideForm) -> Response:
    def work(working: Working) -> Response:
        _publish(request, session, user, working, form.get("note"), form.get("lock"), form.get("overwrite") == "1")
        return _redirect(_doc_path(working.ref), done="published")

    def fail(working: Working, exc: VersionError) -> Response:
        context = _document_context(request, user, working)
        context |= {"publish_error": exc.message, "conflict": isinstance(exc, versions.Conflict)}
        if working.ref.kind == "replies":
            return render("guides_replies.html", exc.status_code, **context, values=_replies_values(working), errors={})
        return render("guides_document.html", exc.status_code, **context)

    return _post_page(request, session, user, kind, doc_id, form, work, fail)


@router.post("/{kind}/{doc_id}/discard")
def discard_page(kind: str, doc_id: str, request: Request, session: SessionDep, user: PageUser, form: GuideForm) -> Response:
    def work(working: Working) -> Response:
        _may(session, user, working)
        begin_write(session)
        versions.discard_draft(session, working.ref, _who(user))
        session.commit()
        if working.published.text is None:  # a new guide never published: nothing left to show
            return _redirect("/admin/guides", done="discarded")
        return _redirect(_doc_path(working.ref), done="discarded")

    return _post_page(request, session, user, kind, doc_id, form, work)


@router.get("/{kind}/{doc_id}/history")
def history_page(kind: str, doc_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    working = _open(request, session, user, kind, doc_id)
    if isinstance(working, HTMLResponse):
        return working
    rows = versions.history(session, working.ref)
    audit = list(session.scalars(
        select(AuditEntry).where(AuditEntry.kind == working.ref.kind, AuditEntry.doc_id == working.ref.doc_id)
        .order_by(AuditEntry.id.desc()).limit(200)
    ))
    return render(
        "guides_history.html", user=user, w=working, path=_doc_path(working.ref), rows=rows, audit=audit,
        labels=ACTION_LABELS, editable=documents.refusal(user, working.ref, working.data) is None,
        flash=DONE.get(request.query_params.get("done", "")),
    )


@router.get("/{kind}/{doc_id}/history/{number}")
def revision_page(kind: str, doc_id: str, number: int, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    working = _open(request, session, user, kind, doc_id)
    if isinstance(working, HTMLResponse):
        return working
    row = versions.revision(session, working.ref, number)
    if row is None:
        return error_page(user, 404, f"没有第 {number} 版")
    return render(
        "guides_revision.html", user=user, w=working, path=_doc_path(working.ref), row=row,
        editable=documents.refusal(user, working.ref, working.data) is None,
        current=working.published.number, diff_lines=row.diff.splitlines(),
    )


def _restore(request: Request, session: Session, user: StaffUser, working: Working, number: int, note: str) -> ContentRevision:
    _may(session, user, working)
    old = versions.revision(session, working.ref, number)
    if old is None:
        raise versions.NotFound(f"没有第 {number} 版")
    checked = documents.check(working.ref, old.content, _catalog(request), _guides_dir(request),
                              versions.file_text(_guides_dir(request), working.ref))
    if not checked.publishable:  # e.g. an alias another guide has claimed since
        raise VersionError(f"第 {number} 版现在有错误，不能直接恢复：{checked.errors[0].message}")
    reason = documents.refusal(user, working.ref, checked.data)
    if reason:
        _refused(session, user, working.ref, reason)
        raise Refused(reason)
    begin_write(session)
    row = versions.restore(session, working.ref, number, _who(user), _guides_dir(request), note)
    session.commit()
    _store(request).refresh()
    log.info("guide editor: %s restored %s to version %d (now %d)", user.username, working.ref.label, number, row.number)
    return row


@router.post("/{kind}/{doc_id}/history/{number}/restore")
def restore_page(kind: str, doc_id: str, number: int, request: Request, session: SessionDep, user: PageUser,
                 form: GuideForm) -> Response:
    def work(working: Working) -> Response:
        _restore(request, session, user, working, number, form.get("note"))
        return _redirect(f"{_doc_path(working.ref)}/history", done="restored")

    return _post_page(request, session, user, kind, doc_id, form, work)


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    if not (user.admin or user.editor):
        return error_page(user, 403, "您的账号没有编辑办事指南的权限")
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(300)
    if not user.admin:
        query = query.where(AuditEntry.department == user.department)
    return render("guides_audit.html", user=user, rows=list(session.scalars(query)), labels=ACTION_LABELS)


# --- one entry of a section (after the fixed paths above: these match any four or five segments) ---


@router.get("/guide/{doc_id}/{section}/{entry_id}")
def entry_page(doc_id: str, section: str, entry_id: str, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    if section not in SECTIONS:
        return error_page(user, 404, "没有这个栏目")
    working = _open(request, session, user, "guide", doc_id)
    if isinstance(working, HTMLResponse):
        return working
    entry = _entry(working, section, entry_id)
    if entry is None:
        return error_page(user, 404, f"没有找到{SECTIONS[section]} {entry_id}")
    return _section_page(request, user, working, section, entry_id, _section_values(working, section, entry), {})


def _apply(working: Working, section: str, entry: dict[str, Any], form: Form) -> editing.Outcome:
    data = working.data or {}
    if section == "materials":
        return editing.apply_material(entry, form)
    if section == "questions":
        return editing.apply_question(data, entry, form)
    return editing.apply_item(data, entry, form)


def _new_entry(working: Working, section: str, form: Form) -> dict[str, Any]:
    data = working.data or {}
    name = form.get("name") or form.get("title") or form.get("text")
    taken = [e.get("id") for e in data.get(section) or []]
    wanted = form.get("id").strip()
    fallback = {"materials": "material", "questions": "question", "items": "item"}[section]
    entry_id = wanted if wanted and wanted not in taken else editing.make_id(name, taken, fallback)
    return {"id": entry_id}


@router.post("/guide/{doc_id}/{section}/{entry_id}")
def entry_save(
    doc_id: str, section: str, entry_id: str, request: Request, session: SessionDep, user: PageUser, form: GuideForm,
) -> Response:
    if section not in SECTIONS:
        return error_page(user, 404, "没有这个栏目")

    def values_of(working: Working, entry: dict[str, Any]) -> dict[str, Any]:
        values = _section_values(working, section, entry) | _form_values(form)
        return values | {box: form.get(box) == "1" for box in ("deferrable", "optional")}  # unticked: not sent

    def work(working: Working) -> Response:
        entry = _entry(working, section, entry_id)
        if entry is None:
            return error_page(user, 404, f"没有找到{SECTIONS[section]} {entry_id}")
        _may(session, user, working)
        if entry_id == "new":
            entry = _new_entry(working, section, form)
        outcome = _apply(working, section, entry, form)
        errors = outcome.errors
        if not errors:
            new_data = editing.replace_entry(working.data or {}, section, None if entry_id == "new" else entry_id, outcome.data)
            index = editing.entry_index(new_data, section, outcome.data["id"]) or 0
            errors = _store_outcome(request, session, user, working, new_data, form.get("lock"), (section, index))
        if errors:
            return _section_page(request, user, working, section, entry_id, values_of(working, entry), errors, 422)
        return _redirect(_doc_path(working.ref), done="saved")

    def fail(working: Working, exc: VersionError) -> Response:
        values = values_of(working, _entry(working, section, entry_id) or {})
        return _section_page(request, user, working, section, entry_id, values, {"_": exc.message}, exc.status_code)

    return _post_page(request, session, user, "guide", doc_id, form, work, fail)


@router.post("/guide/{doc_id}/{section}/{entry_id}/{action}")
def entry_action(
    doc_id: str, section: str, entry_id: str, action: str, request: Request, session: SessionDep, user: PageUser,
    form: GuideForm,
) -> Response:
    if section not in SECTIONS or action not in ("delete", "up", "down"):
        return error_page(user, 404, "没有这个操作")

    def work(working: Working) -> Response:
        data = working.data or {}
        if editing.entry_index(data, section, entry_id) is None:
            return error_page(user, 404, f"没有找到{SECTIONS[section]} {entry_id}")
        _may(session, user, working)
        if action == "delete":
            if uses := editing.uses_of(data, section, entry_id):
                return error_page(user, 409, f"不能删除：{'、'.join(uses)} 还在用它，请先修改那里")
            new_data = editing.delete_entry(data, section, entry_id)
        else:
            new_data = editing.move_entry(data, section, entry_id, -1 if action == "up" else 1)
        if errors := _store_outcome(request, session, user, working, new_data, form.get("lock"), (section,)):
            return error_page(user, 422, "；".join(errors.values()))
        return _redirect(_doc_path(working.ref), done="deleted" if action == "delete" else "moved")

    return _post_page(request, session, user, "guide", doc_id, form, work)


# --- the JSON API -----------------------------------------------------------------------------------


def _api_csrf(request: Request, user: StaffUser) -> None:
    if not _csrf_ok(request, request.headers.get("x-csrf-token"), user):
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)


def _api_working(request: Request, session: Session, kind: str, doc_id: str) -> Working:
    try:
        return _working(request, session, _ref(kind, doc_id))
    except VersionError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "severity": problem.severity, "message": problem.message,
            "field": ".".join(str(p) for p in problem.loc)}


def _revision_json(row: ContentRevision, with_content: bool = False) -> dict[str, Any]:
    out = {"number": row.number, "author": row.author, "department": row.department, "note": row.note,
           "created_at": row.created_at.isoformat(), "restored_from": row.restored_from, "sha256": row.sha256}
    if with_content:
        out |= {"content": row.content, "diff": row.diff}
    return out


@api.get("")
def api_list(request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    rows = _rows(request, session, user)
    return {
        "csrf": user.csrf,  # sent back in X-CSRF-Token with every change
        "documents": [
            {"kind": r.ref.kind, "id": r.ref.doc_id, "title": r.title, "department": r.department,
             "published_number": r.number, "draft": r.draft is not None, "editable": r.editable}
            for r in rows
        ],
    }


@api.get("/{kind}/{doc_id}")
def api_document(kind: str, doc_id: str, request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    working = _api_working(request, session, kind, doc_id)
    return {
        "kind": kind, "id": doc_id, "title": working.title,
        "published": {"number": working.published.number, "text": working.published.text},
        "draft": None if working.draft is None else {
            "text": working.draft.content, "lock_version": working.draft.lock_version,
            "base_number": working.draft.base_number, "updated_by": working.draft.updated_by,
        },
        "problems": [_problem_json(p) for p in working.checked.problems],
        "editable": documents.refusal(user, working.ref, working.data) is None,
    }


def _api_refused(exc: Refused) -> HTTPException:
    return HTTPException(status_code=403, detail=exc.message)


@api.put("/{kind}/{doc_id}/draft")
async def api_save_draft(kind: str, doc_id: str, request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    """The draft's new text: ``application/json`` ``{"yaml": "...", "lock_version": n}``, or the YAML
    itself as the body (``application/yaml``, UTF-8)."""
    _api_csrf(request, user)
    raw = await read_body(request, MAX_FILE_BYTES + 4096)
    lock = request.headers.get("x-lock-version", "")
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
        try:
            body = json.loads(raw)
            raw = str(body["yaml"]).encode("utf-8")
            lock = str(body.get("lock_version") or "")
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(status_code=422, detail="请求体应为 {\"yaml\": \"...\"}") from exc
    working = _api_working(request, session, kind, doc_id)
    if problems := _parse_yaml_text(working.ref, raw):
        raise HTTPException(status_code=422 if len(raw) <= MAX_FILE_BYTES else 413, detail=problems[0].message)
    text = raw.decode("utf-8")
    try:
        _may(session, user, working)
        draft = _save(request, session, user, working, text, lock)
        session.commit()
    except Refused as exc:
        raise _api_refused(exc) from exc
    except VersionError as exc:
        session.rollback()
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc
    checked = documents.check(working.ref, text, _catalog(request), _guides_dir(request),
                              versions.file_text(_guides_dir(request), working.ref), today=_today(request))
    return {"lock_version": draft.lock_version, "publishable": checked.publishable,
            "problems": [_problem_json(p) for p in checked.problems]}


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, 16 * 1024)
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise HTTPException(status_code=422, detail="请求体不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(status_code=422, detail="请求体应为 JSON 对象")
    return body


@api.post("/{kind}/{doc_id}/publish")
async def api_publish(kind: str, doc_id: str, request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    _api_csrf(request, user)
    body = await _json_body(request)
    working = _api_working(request, session, kind, doc_id)
    try:
        row = _publish(request, session, user, working, str(body.get("note") or ""), str(body.get("lock_version") or ""),
                       bool(body.get("overwrite")))
    except Refused as exc:
        raise _api_refused(exc) from exc
    except VersionError as exc:
        session.rollback()
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc
    except IntegrityError as exc:
        session.rollback()
        raise HTTPException(status_code=409, detail="有人同时发布了这份内容，请刷新后查看") from exc
    return {"published": _revision_json(row), "catalog_version": _catalog(request).version}


@api.get("/{kind}/{doc_id}/history")
def api_history(kind: str, doc_id: str, request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    working = _api_working(request, session, kind, doc_id)
    return {"versions": [_revision_json(r, with_content=True) for r in versions.history(session, working.ref)]}


@api.post("/{kind}/{doc_id}/restore")
async def api_restore(kind: str, doc_id: str, request: Request, session: SessionDep, user: ApiUser) -> dict[str, Any]:
    _api_csrf(request, user)
    body = await _json_body(request)
    working = _api_working(request, session, kind, doc_id)
    number = body.get("number")
    if not isinstance(number, int):
        raise HTTPException(status_code=422, detail="请给出要恢复的版本号 number")
    try:
        row = _restore(request, session, user, working, number, str(body.get("note") or ""))
    except Refused as exc:
        raise _api_refused(exc) from exc
    except VersionError as exc:
        session.rollback()
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc
    except IntegrityError as exc:
        session.rollback()
        raise HTTPException(status_code=409, detail="有人同时发布了这份内容，请刷新后查看") from exc
    return {"published": _revision_json(row), "catalog_version": _catalog(request).version}
