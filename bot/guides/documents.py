"""The documents staff edit, checked as ``python -m bot guides lint`` checks the files, and who may
edit which.

A draft is checked in the company of everything else being served (the catalog's snapshot), so an
alias another guide already claims, or a licence code missing from the 电子证照目录, is found
before publishing, with the same Chinese wording and the field it concerns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from bot.complaints.calendar import beijing_today
from bot.guides.catalog import Catalog
from bot.guides.lint import lint_loaded
from bot.guides.loader import (
    GuideFileError,
    LoadedGuides,
    Problem,
    load_guide_bytes,
    parse_text,
    validation_problems,
)
from bot.guides.schema import Guide
from bot.guides.versions import DocRef
from bot.guides.wording import RepliesFile, template_variables

KIND_LABELS = {"guide": "一件事指南", "replies": "回复用语", "policy": "惠企政策"}


@dataclass(frozen=True)
class Checked:
    """A document's text after checking: the guide (when it loads) and its problems."""

    problems: list[Problem]
    guide: Guide | None = None
    data: Any = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "错误"]

    @property
    def publishable(self) -> bool:
        return not self.errors


def display_name(ref: DocRef) -> str:
    return f"guides/{ref.file_name}"


def check_guide(doc_id: str, raw: bytes, catalog: Catalog, guides_dir: Path) -> Checked:
    name = f"guides/{doc_id}.yml"
    try:
        guide, parsed = load_guide_bytes(raw, guides_dir / f"{doc_id}.yml", name)
    except GuideFileError as exc:
        data = None
        with contextlib.suppress(GuideFileError):  # schema errors: the data is still shown
            data = parse_text(raw, name).data
        return Checked(exc.problems, None, data)
    base = catalog.loaded or LoadedGuides()
    loaded = replace(
        base, guides={**base.guides, doc_id: guide}, parsed={**base.parsed, doc_id: parsed}, problems=[],
    )
    return Checked([p for p in lint_loaded(loaded) if p.file == name], guide, parsed.data)


def check_replies(raw: bytes, catalog: Catalog, file_text: str | None) -> Checked:
    """Reply wording: the schema, templates that compile, no key the code needs removed, and only
    the variables the code passes to each template (those the installed file's template uses)."""
    name = "guides/templates/replies.yml"
    try:
        parsed = parse_text(raw, name)
    except GuideFileError as exc:
        return Checked(exc.problems)
    try:
        replies = RepliesFile.model_validate(parsed.data)
    except ValidationError as exc:
        return Checked(validation_problems(exc, parsed, name), None, parsed.data)
    original: dict[str, str] = {}
    if file_text is not None:
        try:
            original = RepliesFile.model_validate(parse_text(file_text.encode("utf-8"), name).data).replies
        except (GuideFileError, ValidationError):
            original = {}
    problems: list[Problem] = []
    for key in sorted(set(original) - set(replies.replies)):
        problems.append(Problem(name, 1, f"回复 “{key}” 不能删除：程序会用到它", loc=("replies",)))
    for key, source in replies.replies.items():
        loc = ("replies", key)
        try:
            used = template_variables(source)
        except TemplateSyntaxError as exc:
            problems.append(Problem(name, 1, f"回复 “{key}” 的模板写法有误（第 {exc.lineno} 行）：{exc.message}", loc=loc))
            continue
        if key not in original:
            problems.append(Problem(name, 1, f"回复 “{key}” 程序不会用到", "提醒", loc=loc))
            continue
        allowed = template_variables(original[key])
        if unknown := sorted(used - allowed):
            can = "、".join(sorted(allowed)) or "无"
            problems.append(Problem(name, 1, f"回复 “{key}” 用了程序不提供的变量：{'、'.join(unknown)}（可用：{can}）", loc=loc))
    for i, guide_id in enumerate(replies.featured):
        if guide_id not in catalog.guides:
            problems.append(Problem(name, 1, f"推荐事项 “{guide_id}” 不存在", loc=("featured", i)))
    return Checked(problems, None, parsed.data)


def check_policy_text(doc_id: str, raw: bytes, guides_dir: Path, today: date | None = None) -> Checked:
    """A policy (政策条件库) with the checks of bot.policies.catalog, as the lint makes them, and a
    reminder when its window has ended, ends within a month or has not begun (as of ``today``,
    Beijing's today when not given)."""
    from bot.policies.catalog import POLICIES_DIR, check_policy, load_policy_bytes  # the policies' own rules
    from bot.policies.validity import validity_problems

    path = guides_dir / POLICIES_DIR / f"{doc_id}.yml"
    name = f"guides/{POLICIES_DIR}/{doc_id}.yml"
    try:
        policy, parsed = load_policy_bytes(raw, path, name)
    except GuideFileError as exc:
        data = None
        with contextlib.suppress(GuideFileError):
            data = parse_text(raw, name).data
        return Checked(exc.problems, None, data)
    problems = check_policy(policy, parsed, name) + validity_problems(policy, parsed, name, today or beijing_today())
    return Checked(problems, None, parsed.data)


def check(
    ref: DocRef, text: str | bytes, catalog: Catalog, guides_dir: Path, file_text: str | None = None,
    today: date | None = None,
) -> Checked:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if ref.kind == "guide":
        return check_guide(ref.doc_id, raw, catalog, guides_dir)
    if ref.kind == "replies":
        return check_replies(raw, catalog, file_text)
    return check_policy_text(ref.doc_id, raw, guides_dir, today)


# --- who may edit what --------------------------------------------------------------------------------


class Access:
    """A member of staff as the editor sees them (bot.admin.auth.StaffUser fits)."""

    username: str
    department: str
    admin: bool
    editor: bool


def owner(ref: DocRef, data: Any) -> str | None:
    """The department that maintains the document: a guide's 牵头部门; None: administrators only."""
    if ref.kind == "guide" and isinstance(data, Mapping):
        lead = data.get("lead_department")
        return str(lead) if lead else None
    if ref.kind == "policy" and isinstance(data, Mapping):
        dept = data.get("department")
        return str(dept) if dept else None
    return None


def refusal(user: Access, ref: DocRef, current: Any, new: Any = None) -> str | None:
    """Why ``user`` may not change the document (None: they may). ``current`` is the data served or
    drafted now, ``new`` what they want to save (a guide may not be handed to another department)."""
    if user.admin:
        return None
    if not user.editor:
        return "您的账号没有编辑办事指南的权限，请联系管理员开通"
    if ref.kind == "replies":
        return "回复用语由管理员统一维护"
    dept = owner(ref, current)
    if dept is not None and dept != user.department:
        return f"此项由{dept}维护，{user.department}无权修改"
    if new is not None and owner(ref, new) not in (None, user.department):
        return f"牵头部门只能由管理员修改（应为{user.department}）"
    return None
