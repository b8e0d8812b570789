"""A picture of a guide's flow: questions → sub-items → materials, drawn server-side as SVG.

Three columns and curved arrows are all such a guide needs, so the layout is done here rather than
with Graphviz (no binary to install on every machine, nothing for the browser to run): an arrow from
a question to a sub-item or material means "this answer decides whether it applies" (labelled with
the answers), a solid arrow from a sub-item to a material means the sub-item needs it, a dashed one
that it needs it only under a condition. Materials are coloured as the citizen sees them: 免 green,
容缺 amber. Every text is XML-escaped; the picture has no script and links nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from bot.guides.checklist import exemption
from bot.guides.conditions import comparisons, questions_in
from bot.guides.schema import Condition, Guide, Licence, NotOf

BOX_W, BOX_H, GAP, COL_GAP, TOP, PAD = 230, 46, 14, 150, 46, 16
COLUMNS = ("问题", "事项", "材料")


def _short(text: str, limit: int = 15) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def condition_label(guide: Guide, cond: Condition | None, question_id: str) -> str:
    """The answers of one question a condition names: “已登记结婚” or “≠随父亲”."""
    question = guide.question(question_id)
    titles = {c.value: c.title for c in question.choices} if question else {}
    parts = []
    for leaf in comparisons(cond):
        if leaf.question == question_id:
            parts += [titles.get(v, v) for v in leaf.values()]
    negated = _negated(cond, question_id)
    return ("≠" if negated else "") + "/".join(dict.fromkeys(parts))


def _negated(cond: Condition | None, question_id: str) -> bool:
    if isinstance(cond, NotOf):
        return question_id in questions_in(cond.not_)
    for attr in ("all", "any"):
        for part in getattr(cond, attr, None) or []:
            if question_id in questions_in(part):
                return _negated(part, question_id)
    return False


@dataclass(frozen=True)
class _Box:
    key: str
    x: int
    y: int
    title: str
    sub: str
    fill: str
    stroke: str


def _box_svg(box: _Box, kind: str) -> str:
    return (
        f'<g class="node {kind}" data-id={quoteattr(box.key)}>'
        f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{box.fill}" stroke="{box.stroke}"/>'
        f'<text x="{box.x + 10}" y="{box.y + 19}" font-size="14" fill="#1f2329">{escape(_short(box.title))}</text>'
        f'<text x="{box.x + 10}" y="{box.y + 37}" font-size="11.5" fill="#646a73">{escape(_short(box.sub, 19))}</text>'
        "</g>"
    )


def _edge(a: _Box, b: _Box, *, dashed: bool, colour: str, label: str = "") -> str:
    x1, y1 = a.x + BOX_W, a.y + BOX_H // 2
    x2, y2 = b.x - 4, b.y + BOX_H // 2
    mid = (x1 + x2) // 2
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    path = (
        f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" stroke="{colour}" stroke-width="1.4"'
        f'{dash} marker-end="url(#arrow)"/>'
    )
    if label:
        lx, ly = x1 + 8, y1 - 4 + (6 if y2 > y1 else -2)
        path += f'<text x="{lx}" y="{ly}" font-size="11" fill="{colour}">{escape(_short(label, 12))}</text>'
    return path


def flowchart_svg(guide: Guide, licences: Mapping[str, Licence]) -> str:
    item_ids = [i.id for i in guide.items]
    questions = {
        q.id: _Box(f"question:{q.id}", PAD, 0, q.text, "选项：" + "、".join(c.title for c in q.choices), "#eef3fd", "#1e6fd9")
        for q in guide.questions
    }
    items = {
        i.id: _Box(f"item:{i.id}", 0, 0, i.short_title or i.title,
                   i.department + ("（可选）" if i.optional else ""), "#ffffff", "#8f959e")
        for i in guide.items
    }
    materials = {}
    for m in guide.materials:
        reason = exemption(m, licences, guide, item_ids)
        if reason:
            fill, stroke, sub = "#e8f5e9", "#2e7d32", "免提交"
        elif m.deferrable:
            fill, stroke, sub = "#fff4e5", "#b26a00", "容缺 · " + m.form
        else:
            fill, stroke, sub = "#ffffff", "#8f959e", f"{m.form} {m.copies} 份"
        materials[m.id] = _Box(f"material:{m.id}", 0, 0, m.name, sub, fill, stroke)

    def place(boxes: dict[str, _Box], column: int) -> dict[str, _Box]:
        x = PAD + column * (BOX_W + COL_GAP)
        return {k: _Box(b.key, x, TOP + n * (BOX_H + GAP), b.title, b.sub, b.fill, b.stroke)
                for n, (k, b) in enumerate(boxes.items())}

    questions, items, materials = place(questions, 0), place(items, 1), place(materials, 2)
    edges: list[str] = []
    for item in guide.items:
        for qid in questions_in(item.when):
            if qid in questions:
                edges.append(_edge(questions[qid], items[item.id], dashed=False, colour="#1e6fd9",
                                   label=condition_label(guide, item.when, qid)))
        for ref in item.materials:
            if ref.material not in materials:
                continue
            edges.append(_edge(items[item.id], materials[ref.material], dashed=ref.when is not None, colour="#8f959e"))
    # A question that decides a material of a sub-item: drawn from the question to the material,
    # across the middle column.
    seen: set[tuple[str, str]] = set()
    for item in guide.items:
        for ref in item.materials:
            for qid in questions_in(ref.when):
                if qid in questions and ref.material in materials and (qid, ref.material) not in seen:
                    seen.add((qid, ref.material))
                    edges.append(_edge(questions[qid], materials[ref.material], dashed=True, colour="#7b61c9",
                                       label=condition_label(guide, ref.when, qid)))
    rows = max(len(questions), len(items), len(materials), 1)
    width = PAD * 2 + 3 * BOX_W + 2 * COL_GAP
    height = TOP + rows * (BOX_H + GAP) + PAD
    heads = "".join(
        f'<text x="{PAD + n * (BOX_W + COL_GAP)}" y="26" font-size="15" font-weight="bold" fill="#1f2329">{name}</text>'
        for n, name in enumerate(COLUMNS)
    )
    if not questions:
        heads += f'<text x="{PAD}" y="{TOP + 20}" font-size="12" fill="#646a73">（无须提问）</text>'
    nodes = (
        [_box_svg(b, "question") for b in questions.values()]
        + [_box_svg(b, "item") for b in items.values()]
        + [_box_svg(b, "material") for b in materials.values()]
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label={quoteattr(guide.title + " 流程图")} font-family="sans-serif">'
        f"<title>{escape(guide.title)} 流程图</title>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#8f959e"/></marker></defs>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        + heads + "".join(edges) + "".join(nodes) + "</svg>"
    )
