"""The guide editor's pages: forms with errors beside the fields, department scoping with the
audit log, preview and diagram, and hostile input rejected or escaped, never executed."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import yaml
from sqlalchemy import Engine, select

from bot.guides.loader import MAX_FILE_BYTES
from bot.store.content import AuditEntry
from bot.store.db import make_sessionmaker
from tests.admin.guide_editor_fixtures import Editor, editors, guide_app, sign_in  # noqa: F401 (fixtures)

DOC = "/admin/guides/guide/newborn"


def _lock(html: str) -> str:
    match = re.search(r'name="lock" value="(\d+)"', html)
    assert match
    return match.group(1)


def _material_form(editor: Editor, material_id: str) -> dict[str, str]:
    page = editor.get(f"{DOC}/materials/{material_id}")
    assert page.status_code == 200
    fields = dict(re.findall(r'<input type="text" id="f-[^"]+" name="([^"]+)" value="([^"]*)"', page.text))
    form = re.search(r'<select id="f-form" name="form">.*?<option selected>([^<]+)</option>', page.text, re.S)
    fields["form"] = form.group(1) if form else "原件"
    licence = re.search(r'<select id="f-licence" name="licence">.*?<option value="([^"]*)" selected>', page.text, re.S)
    fields["licence"] = licence.group(1) if licence else ""
    fields["lock"] = _lock(page.text)
    return {k: v.replace("&amp;", "&") for k, v in fields.items()}


def test_an_editor_marks_a_material_exempt_and_publishes(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    health = sign_in("health")
    listing = health.get("/admin/guides")
    assert listing.status_code == 200 and 'data-doc="guide/newborn"' in listing.text
    assert 'data-doc="guide/open_restaurant"' not in listing.text  # another department's: under 查看全部

    form = _material_form(health, "bank_card")
    assert form["licence"] == "" and form["shared_data"] == ""
    # The bank card is checked through shared data from now on: 免.
    saved = health.post(f"{DOC}/materials/bank_card", {**form, "shared_data": "银联账户实名核验"})
    assert saved.status_code == 303, saved.text
    overview = health.get(DOC)
    assert "草稿" in overview.text and "共享数据：银联账户实名核验" in overview.text

    answers = {"a.married": "married", "a.hukou_follow": "father", "a.insured_parent": "insured"}
    preview = health.get(f"{DOC}/preview", params=answers)
    assert preview.status_code == 200
    assert "✅ 父亲或母亲的本人银行卡（用于报销款到账）：通过“银联账户实名核验”共享核验，免提交" in preview.text
    assert re.search(r'<b class="part-bytes">\d+</b> / 2048 字节', preview.text)
    published_view = health.get(f"{DOC}/preview", params={**answers, "source": "published"})
    assert "📄 父亲或母亲的本人银行卡（用于报销款到账）：原件1份" in published_view.text
    card = health.get(f"{DOC}/preview/card", params=answers)
    assert card.status_code == 200 and 'id="chat-preview"' in card.text and "银联账户实名核验" in card.text
    assert "script-src 'self'" in card.headers["content-security-policy"]
    svg = health.get(f"{DOC}/flow.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert 'data-id="material:bank_card"' in svg.text and "免提交" in svg.text

    published = health.post(f"{DOC}/publish", {"note": "结婚证共享核验", "lock": _lock(overview.text)})
    assert published.status_code == 303, published.text
    history = health.get(f"{DOC}/history")
    assert "结婚证共享核验" in history.text and "第 2 版" in history.text


def test_errors_are_shown_beside_the_field(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    health = sign_in("health")
    form = _material_form(health, "marriage_certificate")
    refused = health.post(f"{DOC}/materials/marriage_certificate", {**form, "name": "", "copies": "两份"})
    assert refused.status_code == 422
    assert '<p class="error field-error" role="alert" data-field="copies">应为整数</p>' in refused.text
    form = _material_form(health, "marriage_certificate")
    refused = health.post(f"{DOC}/materials/marriage_certificate", {**form, "name": " "})
    assert refused.status_code == 422
    assert 'data-field="name">不能为空</p>' in refused.text
    assert "草稿" not in health.get(DOC).text.split('id="doc-state"')[1][:200]  # nothing saved


def test_another_departments_editor_gets_403_and_it_is_recorded(
    sign_in: Callable[[str], Editor], engine: Engine,  # noqa: F811
) -> None:
    police, clerk = sign_in("police"), sign_in("clerk")
    assert police.get(DOC).status_code == 200  # may look and preview
    form = _material_form(police, "marriage_certificate")
    refused = police.post(f"{DOC}/materials/marriage_certificate", {**form, "shared_data": "x"})
    assert refused.status_code == 403 and "此项由县卫健委维护" in refused.text
    api = police.api("PUT", "/admin/api/guides/guide/newborn/draft", json={"yaml": "id: newborn\n"})
    assert api.status_code == 403
    assert clerk.post(f"{DOC}/yaml", {"yaml": "id: newborn\n", "lock": "0"}).status_code == 403
    assert police.post("/admin/guides/replies/replies", {"featured": ""}).status_code == 403
    with make_sessionmaker(engine)() as session:
        denied = [(a.actor, a.action) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert denied == [("police_ed", "denied"), ("police_ed", "denied"), ("clerk", "denied"), ("police_ed", "denied")]
    # An editor cannot hand their guide to another department either.
    health = sign_in("health")
    text = health.get(f"{DOC}/yaml").text
    source = re.search(r'<textarea name="yaml" id="yaml"[^>]*>(.*?)</textarea>', text, re.S)
    assert source
    moved = html.unescape(source.group(1)).replace("lead_department: 县卫健委", "lead_department: 县公安局")
    assert health.post(f"{DOC}/yaml", {"yaml": moved, "lock": "0"}).status_code == 403


def test_hostile_input_is_rejected_or_escaped(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    health = sign_in("health")
    # A script tag in a title is stored as text and shown escaped on every page and in the picture.
    form = _material_form(health, "marriage_certificate")
    evil = '<script>alert("x")</script>结婚证'
    assert health.post(f"{DOC}/materials/marriage_certificate", {**form, "name": evil}).status_code == 303
    for url in (DOC, f"{DOC}/materials/marriage_certificate", f"{DOC}/preview?a.married=married", f"{DOC}/yaml"):
        page = health.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text, url
        assert "&lt;script&gt;alert" in page.text, url
    assert "<script>alert" not in health.get(f"{DOC}/flow.svg").text
    card = health.get(f"{DOC}/preview/card?a.married=married").text
    data = card.split('id="chat-preview">')[1].split("</script>")[0]
    assert "<" not in data and "\\u003cscript\\u003e" in data  # inert inside the JSON data block

    # A YAML bomb (anchors and aliases) is refused before anything expands it.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n"
    refused = health.post(f"{DOC}/yaml", {"yaml": bomb, "lock": "0"})
    assert refused.status_code == 422 and "不允许使用 YAML 锚点或别名" in refused.text
    api = health.api("PUT", "/admin/api/guides/guide/newborn/draft", content=bomb.encode(),
                     headers={"Content-Type": "application/yaml"})
    assert api.status_code == 422 and "锚点" in api.json()["detail"]

    # Invalid UTF-8: a clear Chinese 4xx, from the page form and from the API.
    raw = b"csrf=" + health.csrf.encode() + b"&lock=0&yaml=title%3A+%FF%FE"
    bad = health.client.post(f"{DOC}/yaml", content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 400 and "表单内容无法识别" in bad.json()["detail"]
    bad = health.api("PUT", "/admin/api/guides/guide/newborn/draft", content=b"id: newborn\ntitle: \xff\xfe\n",
                     headers={"Content-Type": "application/yaml"})
    assert bad.status_code == 422 and "不是有效的 UTF-8" in bad.json()["detail"]

    # Oversized: refused while reading, with 413.
    huge = "a: " + "x" * (MAX_FILE_BYTES + 20_000) + "\n"
    assert health.post(f"{DOC}/yaml", {"yaml": huge, "lock": "0"}).status_code == 413
    assert health.api("PUT", "/admin/api/guides/guide/newborn/draft", content=huge.encode(),
                      headers={"Content-Type": "application/yaml"}).status_code == 413
    # YAML that is not a guide at all is refused as a draft; the draft with the script tag is intact.
    refused = health.post(f"{DOC}/yaml", {"yaml": "- just\n- a list\n", "lock": "0"})
    assert refused.status_code == 422
    draft = health.api("GET", "/admin/api/guides/guide/newborn").json()["draft"]["text"]
    assert yaml.safe_load(draft)["materials"][4]["name"] == evil


def test_policies_are_listed_and_checked_with_the_policies_rules(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    admin = sign_in("admin")
    listing = admin.get("/admin/guides")
    assert 'data-doc="policy/gaoxin_suodeshui"' in listing.text
    page = admin.get("/admin/guides/policy/gaoxin_suodeshui")
    assert page.status_code == 200 and 'id="yaml"' in page.text and 'id="policy-note"' in page.text
    text = admin.api("GET", "/admin/api/guides/policy/gaoxin_suodeshui").json()["published"]["text"]
    broken = text.replace("id: gaoxin_suodeshui", "id: something_else", 1)
    saved = admin.api("PUT", "/admin/api/guides/policy/gaoxin_suodeshui/draft", json={"yaml": broken})
    assert saved.status_code == 200 and not saved.json()["publishable"]
    assert any("应与文件名" in p["message"] for p in saved.json()["problems"])


def test_the_yaml_view_has_a_plain_title_and_one_publish_form(sign_in: Callable[[str], Editor]) -> None:  # noqa: F811
    """The page's <title> and the menu's class are plain text; the publish form comes once, after the editor."""
    admin = sign_in("admin")
    for ref in ("guide/newborn", "policy/gaoxin_suodeshui"):
        text = admin.api("GET", f"/admin/api/guides/{ref}").json()["published"]["text"]
        saved = admin.api("PUT", f"/admin/api/guides/{ref}/draft", json={"yaml": text + "\n# 草稿\n"})
        assert saved.status_code == 200 and saved.json()["publishable"], saved.text
        page = admin.get(f"/admin/guides/{ref}/yaml")
        assert page.status_code == 200
        title = re.search(r"<title>(.*?)</title>", page.text, re.S)
        assert title and "<" not in title.group(1) and title.group(1).startswith("YAML · "), title
        assert 'id="nav-guides"' in page.text and re.search(r'class="active"[^>]*id="nav-guides"', page.text)
        assert page.text.count('id="form-publish"') == 1
        assert page.text.index('id="form-yaml"') < page.text.index('id="form-publish"')
