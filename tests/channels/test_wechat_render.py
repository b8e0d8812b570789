"""The WeChat text renderer: templates per message type, the 2048-byte split, links and numbered choices."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.channels import messages as m
from bot.channels.wechat.render import (
    WECHAT_TEXT_LIMIT,
    TemplateRenderError,
    WeChatRenderer,
    nbytes,
    part_marker,
    split_text,
)
from bot.guides.catalog import Catalog
from bot.guides.dialogue import FlowState, GuideDialogue
from tests.channels.conftest import WECHAT_TEMPLATES

BASE = "https://ysb.example.gov.cn/yishiban"
NEWBORN = m.GuideRef(id="newborn", title="新生儿出生一件事")
_MARKER = re.compile(r"\n（(\d+)/(\d+)）$")


# --- helpers -------------------------------------------------------------------------------------


def unmarked(parts: list[str]) -> list[str]:
    """The parts without their "（i/n）" markers, checking the markers are right."""
    if len(parts) == 1:
        assert not _MARKER.search(parts[0])
        return parts
    bodies = []
    for index, part in enumerate(parts, start=1):
        match = _MARKER.search(part)
        assert match, f"part {index} has no marker: {part[-20:]!r}"
        assert (int(match[1]), int(match[2])) == (index, len(parts))
        assert part.endswith(part_marker(index, len(parts)))
        bodies.append(part[: match.start()])
    return bodies


def assert_same_modulo_cuts(original: str, bodies: list[str]) -> None:
    """The bodies are the original, in order, with only whitespace dropped where it was cut."""
    position = 0
    for body in bodies:
        assert body and body == body.strip()
        found = original.find(body, position)
        assert found != -1, f"part not found in order: {body[:40]!r}"
        assert original[position:found].strip() == "", f"non-whitespace dropped before {body[:20]!r}"
        position = found + len(body)
    assert original[position:].strip() == ""


def material(n: int, **overrides: object) -> m.ChecklistMaterial:
    data: dict = {
        "id": f"m{n}", "name": f"第{n}号材料（示例证明文件）", "exempt": n % 3 == 0,
        "exempt_reason": f"已共享第{n}号电子证照（县公安局），免提交" if n % 3 == 0 else None,
        "deferrable": n % 3 == 1, "deferrable_note": "可在领证前补交" if n % 3 == 1 else None,
        "copies": 1 + n % 2, "form": "复印件" if n % 2 else "原件", "note": "须本人签字确认" if n % 5 == 0 else None,
    }
    data.update(overrides)
    return m.ChecklistMaterial.model_validate(data)


def synthetic_checklist(count: int) -> m.ChecklistMessage:
    materials = [material(n) for n in range(1, count + 1)]
    exempt = sum(x.exempt for x in materials)
    return m.ChecklistMessage(
        guide=m.GuideRef(id="demo", title="示例演示一件事"),
        items=[m.ChecklistItem(id=f"i{n}", title=f"第{n}个事项", dept="县示例局", time_limit_days=n) for n in range(1, 6)],
        materials=materials,
        stats=m.ChecklistStats(total=count, exempt=exempt, to_submit=count - exempt,
                               deferrable=sum(x.deferrable for x in materials)),
        time_limit_days=5,
        where=m.Where(window="一号窗口", address="示例路1号", hours="工作日 9:00-17:00", online="豫事办APP", phone=None),
        fees="不收费",
        delivery=["窗口领取", "免费邮寄"],
        not_applicable=[m.NotApplicable(id="x", title="登记事项", note="外县户籍到户籍地办理")],
    )


def one_of_each() -> list[m.Message]:
    return [
        m.TextMessage(text="好的，您要办的是【新生儿出生一件事】。", guide=NEWBORN),
        m.ChoicesMessage(text="请选择：", choices=[m.Choice(title="全部办理", payload="/choose{\"choice\": \"all\"}"),
                                                   m.Choice(title="只办其中几项", payload="/choose{\"choice\": \"some\"}")]),
        synthetic_checklist(4),
        m.TicketMessage(ticket=m.TicketInfo(no="TS20261122001", status="已受理", category="办不成事",
                                            departments=["县医保局", "县公安局"], deadline="2026-12-01")),
        m.PoliciesMessage(policies=[m.PolicyInfo(id="p1", title="小微企业稳岗返还", kind="名单类",
                                                 why=["参保人数50人以下", "上年度未裁员"], status="待确认")]),
        m.LinkMessage(title="查看并打印一次告知单", url="/notices/abc123"),
    ]


# --- every message type --------------------------------------------------------------------------


@pytest.mark.parametrize("message", one_of_each(), ids=lambda x: x.type)
def test_every_message_type_renders(renderer: WeChatRenderer, message: m.Message) -> None:
    text = renderer.render_message(message)
    assert text and text == text.strip()
    assert "{{" not in text and "{%" not in text and "None" not in text
    expected = {
        "text": ["【新生儿出生一件事】"],
        "choices": ["请选择：", "1. 全部办理", "2. 只办其中几项", "回复数字"],
        "checklist": ["【示例演示一件事】", "第1号材料", "一号窗口", "5个工作日", "不收费", "窗口领取；免费邮寄",
                      "外县户籍到户籍地办理"],
        "ticket": ["TS20261122001", "已受理", "办不成事", "县医保局、县公安局", "2026-12-01"],
        "policies": ["小微企业稳岗返还", "名单类", "待确认", "参保人数50人以下"],
        "link": [f'<a href="{BASE}/notices/abc123">查看并打印一次告知单</a>'],
    }[message.type]
    for needle in expected:
        assert needle in text
    rendered = renderer.render([message])
    assert rendered.parts == [text]


def test_every_template_in_the_folder_parses(renderer: WeChatRenderer) -> None:
    names = sorted(p.name for p in WECHAT_TEMPLATES.glob("*.j2"))
    for kind in ("text", "choices", "checklist", "ticket", "policies", "link", "welcome", "unsupported", "voice_unclear", "busy"):
        assert f"{kind}.j2" in names
    for name in names:
        renderer.env.get_template(name)


def test_json_messages_render_like_models(renderer: WeChatRenderer) -> None:
    messages = one_of_each()
    as_json = m.dump(messages)
    assert renderer.render(as_json) == renderer.render(messages)


def test_empty_turn_and_empty_policies(renderer: WeChatRenderer) -> None:
    assert renderer.render([]).parts == [] and renderer.render([]).choices == []
    text = renderer.render_message(m.PoliciesMessage(policies=[]))
    assert "暂时没有" in text


# --- the 一次告知 ----------------------------------------------------------------------------------


def material_lines(text: str, checklist: m.ChecklistMessage) -> dict[str, str]:
    lines = {}
    for x in checklist.materials:
        heads = tuple(f"{marker} {x.name}：" for marker in "✅📄⏳")
        found = [line for line in text.splitlines() if line.replace("（如适用）：", "：", 1).startswith(heads)]
        assert len(found) == 1, f"{x.name}: {found}"
        lines[x.id] = found[0]
    return lines


def test_newborn_checklist_marks_exempt_and_deferrable(renderer: WeChatRenderer, newborn_checklist: m.ChecklistMessage) -> None:
    checklist = newborn_checklist
    kinds = {(x.exempt, x.deferrable) for x in checklist.materials}
    assert kinds == {(True, False), (False, False), (False, True)}, "the fixture should show all three kinds"
    text = renderer.render_message(checklist)
    lines = material_lines(text, checklist)
    for x in checklist.materials:
        line = lines[x.id]
        if x.exempt:
            assert line.startswith("✅ ") and x.exempt_reason and x.exempt_reason in line
        elif x.deferrable:
            assert line.startswith("⏳ ") and x.deferrable_note and x.deferrable_note in line
            assert f"{x.form}{x.copies}份" in line
        else:
            assert line.startswith("📄 ") and f"{x.form}{x.copies}份" in line
        if x.note:
            assert x.note in line
    # the markers mark materials only (every ✅/📄/⏳ line is one material)
    marked = [line for line in text.splitlines() if line[:1] in ("✅", "📄", "⏳")]
    assert len(marked) == len(checklist.materials)
    # exempt first, then to submit, then deferrable
    order = [line[0] for line in marked]
    assert order == sorted(order, key="✅📄⏳".index)

    stats = checklist.stats
    assert f"共{stats.total}项：免提交{stats.exempt}项，需提交{stats.to_submit}项" in text
    assert f"其中容缺{stats.deferrable}项" in text
    for item in checklist.items:
        assert f"{item.title}｜{item.dept}" in text
    assert f"承诺时限：{checklist.time_limit_days}个工作日" in text
    for value in (checklist.where.window, checklist.where.address, checklist.where.hours, checklist.where.online, checklist.fees):
        assert value in text
    assert f"咨询电话：{checklist.where.phone}" in text
    assert "；".join(checklist.delivery) in text
    assert checklist.sample_notice and checklist.sample_notice in text
    for answer in checklist.answers:
        assert answer.answer in text
    assert text.startswith(f"【{checklist.guide.title}】")


def test_newborn_turn_fits_wechat(renderer: WeChatRenderer, newborn_turn: list[m.Message],
                                  newborn_checklist: m.ChecklistMessage) -> None:
    rendered = renderer.render(newborn_turn)
    assert rendered.choices == []
    assert all(0 < nbytes(p) <= WECHAT_TEXT_LIMIT for p in rendered.parts)
    whole = "\n\n".join(renderer.render_message(x) for x in newborn_turn)
    assert_same_modulo_cuts(whole, unmarked(rendered.parts))
    joined = "".join(rendered.parts)
    positions = [joined.find(x.name) for x in newborn_checklist.materials]
    assert -1 not in positions
    assert joined.rfind(newborn_turn[-1].text) > max(positions)  # type: ignore[union-attr]


def test_every_real_guide_fits_wechat(renderer: WeChatRenderer, real_catalog: Catalog) -> None:
    """Each guide's 一次告知 with every sub-item (unanswered questions: the 如适用 materials show)."""
    dialogue = GuideDialogue(real_catalog)
    for guide in real_catalog.guides.values():
        state = FlowState(guide_id=guide.id, guide_items=[i.id for i in guide.items])
        turn = dialogue.checklist(state).messages
        checklist = turn[0]
        assert isinstance(checklist, m.ChecklistMessage)
        rendered = renderer.render(turn)
        assert all(0 < nbytes(p) <= WECHAT_TEXT_LIMIT for p in rendered.parts), guide.id
        bodies = unmarked(rendered.parts)
        assert_same_modulo_cuts("\n\n".join(renderer.render_message(x) for x in turn), bodies)
        for body in bodies[:-1]:  # a part never ends on a heading whose lines went to the next part
            assert not body.endswith(("：", "】")), f"{guide.id}: {body[-30:]!r}"
        lines = material_lines("\n".join(bodies), checklist)
        for x in checklist.materials:
            assert lines[x.id][0] == ("✅" if x.exempt else "⏳" if x.deferrable else "📄"), x.name
            assert ("（如适用）" in lines[x.id]) == x.conditional


def test_long_checklist_is_split_in_order(renderer: WeChatRenderer) -> None:
    checklist = synthetic_checklist(80)
    after = m.TextMessage(text="以上就是要准备的全部材料。")
    rendered = renderer.render([checklist, after])
    parts = rendered.parts
    assert len(parts) >= 3
    assert all(0 < nbytes(p) <= WECHAT_TEXT_LIMIT for p in parts)
    bodies = unmarked(parts)
    assert_same_modulo_cuts(renderer.render_message(checklist) + "\n\n" + after.text, bodies)
    # every material whole, on one line, in exactly one part
    for x in checklist.materials:
        holding = [n for n, body in enumerate(bodies) if any(line[2:].startswith(x.name + "：") for line in body.splitlines())]
        assert len(holding) == 1, x.name
    joined = "\n".join(bodies)
    lines = material_lines(joined, checklist)
    assert {x.id for x in checklist.materials} == set(lines)
    # material order within each group is kept across the parts
    for marker in ("✅", "📄", "⏳"):
        names = [line[2:].split("：")[0] for line in joined.splitlines() if line.startswith(marker + " ")]
        assert names == sorted(names, key=lambda name: int(re.search(r"\d+", name)[0]))  # type: ignore[index]
    assert bodies[-1].endswith(after.text)
    for body in bodies[:-1]:
        assert not body.endswith(("：", "】"))


def test_conditional_material_is_marked(renderer: WeChatRenderer) -> None:
    checklist = synthetic_checklist(3)
    checklist.materials[1] = material(2, conditional=True)
    text = renderer.render_message(checklist)
    assert "第2号材料（示例证明文件）（如适用）" in text


# --- links ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/notices/abc", f"{BASE}/notices/abc"),
        ("notices/abc", f"{BASE}/notices/abc"),
        ("https://www.hnzwfw.gov.cn/a?b=1&c=2", "https://www.hnzwfw.gov.cn/a?b=1&c=2"),
        ("//other.example.cn/x", "https://other.example.cn/x"),
    ],
)
def test_links_become_absolute(renderer: WeChatRenderer, url: str, expected: str) -> None:
    text = renderer.render([m.LinkMessage(title="告知单", url=url)]).parts[0]
    assert f'<a href="{expected}">告知单</a>' in text


def test_link_cannot_break_out_of_its_tag(renderer: WeChatRenderer) -> None:
    text = renderer.render_message(m.LinkMessage(title="<b>看</b>", url='/n/a b"><x'))
    assert f'<a href="{BASE}/n/a%20b%22%3E%3Cx">＜b＞看＜/b＞</a>' in text


def test_base_url_without_path(tmp_path: Path) -> None:
    renderer = WeChatRenderer(WECHAT_TEMPLATES, "http://localhost:8000")
    assert renderer.absolute_url("/notices/abc") == "http://localhost:8000/notices/abc"


# --- numbered choices ----------------------------------------------------------------------------


def test_choices_payloads_in_numbered_order(renderer: WeChatRenderer) -> None:
    first = m.ChoicesMessage(text="先选一个：", choices=[m.Choice(title="甲", payload="/a")])
    titles = ["新生儿出生一件事", "开办餐饮店一件事", "退休一件事", "都不是，看看能办哪些事"]
    last = m.ChoicesMessage(text="您说的可能是下面几件事，请选一个：",
                            choices=[m.Choice(title=t, payload=f"/ask_guide{{\"n\": {n}}}") for n, t in enumerate(titles)])
    rendered = renderer.render([first, m.TextMessage(text="好的。"), last, m.TextMessage(text="也可以直接说。")])
    assert rendered.choices == [c.payload for c in last.choices]
    text = "\n".join(rendered.parts)
    for n, title in enumerate(titles, start=1):
        assert f"{n}. {title}" in text
    assert "回复数字（1-4）" in text
    assert renderer.render([first]).choices == ["/a"]
    assert renderer.render([m.TextMessage(text="好的。")]).choices == []


# --- the channel's own replies -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["welcome", "unsupported", "voice_unclear", "busy"])
def test_named_replies(renderer: WeChatRenderer, name: str) -> None:
    text = renderer.render_named(name)
    assert text and "{{" not in text and nbytes(text) <= WECHAT_TEXT_LIMIT
    assert split_text(text) == [text]


def test_welcome_says_what_the_assistant_does(renderer: WeChatRenderer) -> None:
    text = renderer.render_named("welcome")
    for needle in ("一件事", "新生儿出生", "开办餐饮店", "退休", "投诉", "惠企政策", "菜单"):
        assert needle in text
    assert "语音" in renderer.render_named("unsupported")


def test_too_long_reply_gets_its_numbers(renderer: WeChatRenderer) -> None:
    if not (WECHAT_TEMPLATES / "too_long.j2").exists():
        pytest.skip("too_long.j2 not in this checkout")
    assert "600" in renderer.render_named("too_long", length=600, limit=500)


# --- broken templates fail loudly ----------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> tuple[Path, WeChatRenderer]:
    return tmp_path, WeChatRenderer(tmp_path, BASE)


def test_undefined_variable_names_template_and_line(scratch: tuple[Path, WeChatRenderer]) -> None:
    folder, renderer = scratch
    (folder / "text.j2").write_text("第一行\n{{ txt }}\n", encoding="utf-8")
    with pytest.raises(TemplateRenderError) as caught:
        renderer.render([m.TextMessage(text="你好")])
    assert caught.value.template == "text.j2" and caught.value.line == 2
    assert "text.j2" in str(caught.value) and "'txt' is undefined" in str(caught.value)


def test_undefined_attribute_fails_too(scratch: tuple[Path, WeChatRenderer]) -> None:
    folder, renderer = scratch
    (folder / "ticket.j2").write_text("{{ ticket.number }}", encoding="utf-8")
    ticket = m.TicketMessage(ticket=m.TicketInfo(no="1", status="s", category="c", departments=[], deadline="d"))
    with pytest.raises(TemplateRenderError, match=r"ticket\.j2.*number"):
        renderer.render([ticket])


def test_syntax_error_names_template_and_line(scratch: tuple[Path, WeChatRenderer]) -> None:
    folder, renderer = scratch
    (folder / "busy.j2").write_text("请稍候\n{% if x %}\n忙\n", encoding="utf-8")
    with pytest.raises(TemplateRenderError, match=r"busy\.j2.*syntax error") as caught:
        renderer.render_named("busy", x=True)
    assert caught.value.line is not None


def test_missing_template(scratch: tuple[Path, WeChatRenderer]) -> None:
    _, renderer = scratch
    with pytest.raises(TemplateRenderError, match=r"link\.j2.*no such template"):
        renderer.render([m.LinkMessage(title="t", url="/x")])


def test_templates_are_sandboxed(scratch: tuple[Path, WeChatRenderer]) -> None:
    folder, renderer = scratch
    (folder / "text.j2").write_text("{{ text.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    with pytest.raises(TemplateRenderError, match=r"SecurityError|undefined"):
        renderer.render([m.TextMessage(text="x")])


def test_staff_edits_apply_without_restart(scratch: tuple[Path, WeChatRenderer]) -> None:
    folder, renderer = scratch
    template = folder / "text.j2"
    template.write_text("旧：{{ text }}", encoding="utf-8")
    assert renderer.render([m.TextMessage(text="你好")]).parts == ["旧：你好"]
    template.write_text("新：{{ text }}", encoding="utf-8")
    stat = template.stat()
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert renderer.render([m.TextMessage(text="你好")]).parts == ["新：你好"]


# --- split_text ----------------------------------------------------------------------------------


def test_short_text_is_one_part_without_marker() -> None:
    assert split_text("  你好\n\n") == ["你好"]
    assert split_text("") == [] and split_text(" \n\n ") == []
    text = "汉" * (WECHAT_TEXT_LIMIT // 3) + "ab"  # exactly the limit
    assert nbytes(text) == WECHAT_TEXT_LIMIT and split_text(text) == [text]


def test_prefers_blank_lines_then_line_breaks() -> None:
    paragraphs = ["\n".join(f"第{p}段第{n}行内容" for n in range(6)) for p in range(6)]
    text = "\n\n".join(paragraphs)
    parts = split_text(text, limit=200)
    bodies = unmarked(parts)
    assert all(nbytes(p) <= 200 for p in parts)
    assert_same_modulo_cuts(text, bodies)
    for body in bodies:  # whole paragraphs when a paragraph fits
        assert body.split("\n\n") == [p for p in paragraphs if p in body]
    lines = "\n".join(f"第{n}行：一项材料的名称和说明" for n in range(40))
    for body in unmarked(split_text(lines, limit=160)):  # whole lines
        assert all(re.fullmatch(r"第\d+行：一项材料的名称和说明", line) for line in body.split("\n"))


def test_long_line_is_cut_at_sentences_then_characters() -> None:
    sentences = "这是一句话，里面有逗号。" * 40
    bodies = unmarked(split_text(sentences, limit=120))
    assert all(body.endswith("。") for body in bodies)
    assert "".join(bodies) == sentences
    solid = "汉字🙂" * 300
    parts = split_text(solid, limit=100)
    assert all(nbytes(p) <= 100 for p in parts)
    assert "".join(unmarked(parts)) == solid


def test_emoji_sequences_and_links_stay_whole() -> None:
    family = "👨‍👩‍👧‍👦"
    parts = split_text(family * 40, limit=64)
    for body in unmarked(parts):
        assert body.replace(family, "") == ""
    link = '<a href="https://ysb.example.gov.cn/notices/abcdef">查看一次告知单</a>'
    text = "说明文字" * 3 + "".join(f"第{n}项{link}" for n in range(30))
    for body in unmarked(split_text(text, limit=200)):
        assert body.count("<a ") == body.count("</a>")


def test_many_parts_keep_markers_within_limit() -> None:
    text = "\n".join(f"{n}号" for n in range(3000))
    parts = split_text(text, limit=30)
    assert len(parts) >= 100
    assert all(0 < nbytes(p) <= 30 for p in parts)
    assert_same_modulo_cuts(text, unmarked(parts))


def test_limit_too_small_for_the_marker() -> None:
    with pytest.raises(ValueError, match="no room"):
        split_text("汉" * 100, limit=12)


_PIECES = st.sampled_from([
    *"一件事办理材料免提交容缺县政务服务中心窗口。，；（）“”：",
    *"abcXYZ0123 ./-",
    "🙂", "👍🏽", "👨‍👩‍👧", "🇨🇳", "é", "\u200d", "\ufe0f",
    "\n", "\n\n", "\n \n", "  ", "\t",
    '<a href="https://ysb.example.gov.cn/n/1">链接</a>',
])


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.integers(0, 500).flatmap(lambda n: st.lists(_PIECES, min_size=n, max_size=n)),
       limit=st.integers(min_value=24, max_value=300))
@example(pieces=["汉"] * 700, limit=WECHAT_TEXT_LIMIT)
@example(pieces=["🙂"] * 600, limit=WECHAT_TEXT_LIMIT)
@example(pieces=["\n"] * 50, limit=24)
def test_split_text_properties(pieces: list[str], limit: int) -> None:
    text = "".join(pieces)
    parts = split_text(text, limit)
    assert all(part and part.strip() and nbytes(part) <= limit for part in parts)
    for part in parts:
        part.encode("utf-8")  # whole characters only (a lone surrogate would raise)
    if not text.strip():
        assert parts == []
        return
    bodies = unmarked(parts)
    assert_same_modulo_cuts(text, bodies)
    assert re.sub(r"\s", "", "".join(bodies)) == re.sub(r"\s", "", text)
