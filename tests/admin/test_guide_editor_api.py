"""The guide editor through its JSON API: drafts, publish, rollback, and what every process serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from fastapi import FastAPI
from sqlalchemy import Engine, select

from bot.guides.versions import FILE_AUTHOR
from bot.store.content import AuditEntry
from bot.store.db import make_sessionmaker
from tests.admin.guide_editor_fixtures import Editor, editors, guide_app, sign_in  # noqa: F401 (fixtures)

NEWBORN = Path(__file__).resolve().parents[2] / "guides" / "newborn.yml"


def _exempt_childbirth_record(text: str, source: str | None) -> str:
    data = yaml.safe_load(text)
    for material in data["materials"]:
        if material["id"] == "childbirth_record":
            if source is None:
                material.pop("shared_data", None)
            else:
                material["shared_data"] = source
    from bot.guides.editing import write_back

    return write_back(text, data)


def _checklist(app: FastAPI) -> dict[str, object]:
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        reply = client.post("/api/v1/dialogue/checklist", json={"state": {"guide_id": "newborn", "answers": {
            "married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "insured"}}})
    assert reply.status_code == 200, reply.text
    card = next(m for m in reply.json()["messages"] if m["type"] == "checklist")
    return {m["id"]: m for m in card["materials"]}


def test_publish_and_roll_back_through_the_api(
    guide_app: FastAPI, sign_in: Callable[[str], Editor], engine: Engine,  # noqa: F811
) -> None:
    health = sign_in("health")
    before = _checklist(guide_app)["childbirth_record"]
    assert before["exempt"] is True  # shared data: 全民健康信息平台 分娩记录

    original = NEWBORN.read_text(encoding="utf-8")
    changed = _exempt_childbirth_record(original, None)
    saved = health.api("PUT", "/admin/api/guides/guide/newborn/draft", content=changed.encode(),
                       headers={"Content-Type": "application/yaml"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["publishable"] is True
    assert _checklist(guide_app)["childbirth_record"]["exempt"] is True  # a draft is not served

    published = health.api("POST", "/admin/api/guides/guide/newborn/publish", json={"note": "分娩记录不再共享"})
    assert published.status_code == 200, published.text
    assert published.json()["published"]["number"] == 2  # version 1: the installed file
    assert _checklist(guide_app)["childbirth_record"]["exempt"] is False

    history = health.api("GET", "/admin/api/guides/guide/newborn/history").json()["versions"]
    assert [(v["number"], v["author"]) for v in history] == [(2, "health"), (1, FILE_AUTHOR)]
    assert history[1]["content"] == original
    assert "-    shared_data: 全民健康信息平台 分娩记录" in history[0]["diff"]
    assert history[0]["note"] == "分娩记录不再共享"

    restored = health.api("POST", "/admin/api/guides/guide/newborn/restore", json={"number": 1})
    assert restored.status_code == 200, restored.text
    assert restored.json()["published"]["number"] == 3
    assert restored.json()["published"]["restored_from"] == 1
    assert _checklist(guide_app)["childbirth_record"]["exempt"] is True
    document = health.api("GET", "/admin/api/guides/guide/newborn").json()
    assert document["published"] == {"number": 3, "text": original}

    with make_sessionmaker(engine)() as session:
        actions = [(a.actor, a.action, a.revision) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [("health", "draft_saved", None), ("health", "published", 2), ("health", "restored", 3)]


def test_publishing_needs_a_clean_draft_and_the_csrf_token(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    health = sign_in("health")
    broken = NEWBORN.read_text(encoding="utf-8").replace("licence: marriage_cert", "licence: no_such_licence")
    saved = health.api("PUT", "/admin/api/guides/guide/newborn/draft", json={"yaml": broken})
    assert saved.status_code == 200
    assert not saved.json()["publishable"]
    assert any("电子证照目录中没有证照代码 “no_such_licence”" in p["message"] and p["field"].endswith(".licence")
               for p in saved.json()["problems"])
    refused = health.api("POST", "/admin/api/guides/guide/newborn/publish", json={})
    assert refused.status_code == 422 and "错误" in refused.json()["detail"]
    no_token = health.client.post("/admin/api/guides/guide/newborn/publish", json={})
    assert no_token.status_code == 403


def test_concurrent_edits_are_conflicts_not_lost_updates(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    health, admin = sign_in("health"), sign_in("admin")
    text = NEWBORN.read_text(encoding="utf-8")
    draft = "/admin/api/guides/guide/newborn/draft"
    assert health.api("PUT", draft, json={"yaml": text + "# a\n"}).status_code == 200
    assert health.api("POST", "/admin/api/guides/guide/newborn/publish", json={}).json()["published"]["number"] == 2

    # Two people save the same draft: the second, still holding the first's lock version, is refused.
    assert health.api("PUT", draft, json={"yaml": text + "# b\n"}).status_code == 200
    lock = health.api("GET", "/admin/api/guides/guide/newborn").json()["draft"]["lock_version"]
    assert admin.api("PUT", draft, json={"yaml": text + "# c\n", "lock_version": lock}).status_code == 200
    stale = health.api("PUT", draft, json={"yaml": text + "# d\n", "lock_version": lock})
    assert stale.status_code == 409 and "已被 boss 修改" in stale.json()["detail"]

    # A version published after the draft was started (here a restore): publishing the draft would
    # silently undo it, so it needs an explicit overwrite.
    assert admin.api("POST", "/admin/api/guides/guide/newborn/restore", json={"number": 1}).status_code == 200
    conflict = health.api("POST", "/admin/api/guides/guide/newborn/publish", json={})
    assert conflict.status_code == 409 and "第 2 版基础上修改" in conflict.json()["detail"]
    forced = health.api("POST", "/admin/api/guides/guide/newborn/publish", json={"overwrite": True})
    assert forced.status_code == 200 and forced.json()["published"]["number"] == 4


def test_what_is_published_exports_back_to_the_files_byte_for_byte(
    sign_in: Callable[[str], Editor], engine: Engine, tmp_path: Path,  # noqa: F811
) -> None:
    import shutil

    from bot.guides.lint import lint_directory
    from bot.guides.versions import Editor as Who
    from bot.guides.versions import export

    health = sign_in("health")
    changed = _exempt_childbirth_record(NEWBORN.read_text(encoding="utf-8"), "新的共享来源")
    assert health.api("PUT", "/admin/api/guides/guide/newborn/draft", json={"yaml": changed}).status_code == 200
    assert health.api("POST", "/admin/api/guides/guide/newborn/publish", json={}).status_code == 200
    guides = tmp_path / "guides"
    shutil.copytree(NEWBORN.parent, guides)
    with make_sessionmaker(engine)() as session:
        assert export(session, guides, Who("cli")) == ["newborn.yml"]
        session.commit()
        assert export(session, guides, Who("cli")) == []  # nothing left to write
    assert (guides / "newborn.yml").read_bytes() == changed.encode("utf-8")
    assert [p for p in lint_directory(guides) if p.severity == "错误"] == []
