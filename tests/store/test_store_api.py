"""GET /api/v1/notices/{id} and the printable page GET /notices/{id}, through a tiny app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import Engine

from bot.api.routes import notices as notices_route
from bot.channels.messages import ChecklistMessage
from bot.config import get_settings
from bot.guides.catalog import REPLIES_FILE, Catalog
from bot.guides.dialogue import FlowState, GuideDialogue
from bot.guides.loader import load_guide, load_licences
from bot.guides.matcher import GuideMatcher
from bot.guides.wording import load_wording
from bot.store import notices
from bot.store.db import make_sessionmaker

NOT_FOUND = {"detail": "没有找到这份告知单"}


def _app(engine: Engine | None) -> FastAPI:
    app = FastAPI()
    app.include_router(notices_route.router)
    if engine is not None:
        app.state.engine = engine  # what create_app does
    return app


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(_app(engine)) as client:
        yield client


def _store(engine: Engine, checklist: ChecklistMessage, user_id: str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o") -> str:
    with make_sessionmaker(engine)() as session:
        notice = notices.create(
            session, user_id=user_id, checklist=checklist, items=[i.id for i in checklist.items],
            answers={"married": "yes"}, guide_version="v1",
        )
        session.commit()
        return notice.id


def test_json(engine: Engine, client: TestClient, make_checklist) -> None:
    checklist = make_checklist()
    notice_id = _store(engine, checklist)
    response = client.get(f"/api/v1/notices/{notice_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == notice_id
    assert body["url"] == f"/notices/{notice_id}"
    assert body["guide_id"] == "newborn"
    assert body["guide_title"] == "新生儿出生一件事"
    assert body["guide_version"] == "v1"
    assert body["items"] == ["birth_certificate", "hukou_registration"]
    assert body["answers"] == {"married": "yes"}
    assert ChecklistMessage.model_validate(body["checklist"]) == checklist
    assert "user_id" not in body  # whoever holds the link learns nothing about who asked
    assert "oUpF8uMuAJO" not in response.text
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert response.headers["cache-control"] == "no-store"


def test_json_404(client: TestClient) -> None:
    for notice_id in ("nope", "x" * 300, "<script>"):
        response = client.get(f"/api/v1/notices/{notice_id}")
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


def test_page(engine: Engine, client: TestClient, make_checklist) -> None:
    notice_id = _store(engine, make_checklist())
    response = client.get(f"/notices/{notice_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for text in [
        "一次告知单", "新生儿出生一件事", "一次办理以下2个事项", "《出生医学证明》办理（首签）", "县卫健委", "县公安局",
        "父母双方居民身份证", "已共享居民身份证电子证照（县公安局），免提交", "可在领取社会保障卡前补传",
        "纸质原件 2份", "（如适用）", "用于：出生医学证明、户口登记",
        "共<b>4</b>项材料", "免提交<b>1</b>项", "需提交<b>3</b>项", "可容缺后补<b>1</b>项",
        "5个工作日", "1个工作日", "县政务服务中心一楼“一件事”综合窗口", "人民路88号", "工作日 9:00-17:00",
        "豫事办APP“一件事”专区", 'href="tel:0371-12345678"', "不收费", "窗口领取；免费邮寄",
        "境外出生", "请到出入境窗口咨询", "父母是否已婚？", "已婚",
        "您申请的新生儿出生一件事已受理。\n请于5个工作日后凭短信领取结果。",
        'id="print-button"', "window.print()",
    ]:
        assert text in html, text
    for badge in ("免", "容缺", "需提交"):
        assert f'">{badge}</span>' in html
    today = datetime.now(UTC).astimezone(timezone(timedelta(hours=8)))
    assert f"告知日期：{today.year}年{today.month}月{today.day}日" in html
    assert "oUpF8uMuAJO" not in html

    # The only script is the page's own, allowed by a per-response nonce.
    csp = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and html.count("<script") == 1 and f'<script nonce="{nonce[1]}">' in html
    assert "default-src 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in response.headers["x-robots-tag"]


def test_page_escapes_html(engine: Engine, client: TestClient, make_checklist) -> None:
    evil = '<script>alert("x")</script>新生儿'
    checklist = make_checklist(title=evil)
    checklist.materials[0].name = '<img src=x onerror="alert(1)">身份证'
    checklist.sample_notice = "</p><script>alert(2)</script>"
    notice_id = _store(engine, checklist)
    html = client.get(f"/notices/{notice_id}").text
    assert "<script>alert" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;新生儿" in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;身份证" in html
    assert html.count("<script") == 1


def test_page_404(client: TestClient) -> None:
    response = client.get("/notices/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "没有找到这份告知单" in response.text
    assert 'href="/chat"' in response.text


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Just the newborn guide (loading and linting every guide would take seconds)."""
    directory = get_settings().guides_dir
    guide, _ = load_guide(directory / "newborn.yml")
    licences = load_licences(directory / "licences.yml")
    return Catalog(
        guides={guide.id: guide}, licences={lic.code: lic for lic in licences.licences},
        matcher=GuideMatcher([guide]), wording=load_wording(directory / REPLIES_FILE), version="test", problems=(),
    )


def test_page_for_a_real_guide(engine: Engine, client: TestClient, catalog: Catalog) -> None:
    message = GuideDialogue(catalog).checklist_message(FlowState(guide_id="newborn"))
    assert message is not None
    notice_id = _store(engine, message)
    response = client.get(f"/notices/{notice_id}")
    assert response.status_code == 200
    for material in message.materials:
        assert str(escape(material.name)) in response.text
    for item in message.items:
        assert str(escape(item.title)) in response.text


def test_session_dependency_needs_the_engine() -> None:
    with TestClient(_app(None)) as client, pytest.raises(RuntimeError, match=r"app\.state\.engine"):
        client.get("/api/v1/notices/anything")
