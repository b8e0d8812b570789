"""The browser editor's model of a guide: plain data the forms change, written back into the YAML
text with as small a change as possible.

Round trip, nothing lost: the text is read with ruamel.yaml's round-trip loader (comments, key
order, flow style, quoting and folded strings are kept) and a form's result is merged into that
tree: values that did not change keep their original node, list entries are matched by their id,
so an edit touches only the lines it changed. Unchanged, every guide file comes back byte for byte
(tests/guides/test_editor_model.py). The form helpers (``*_values`` fill a form from the data,
``apply_*`` put a submitted form back) cover every field of the schema or leave it alone.

Conditions are edited as rows "问题 = 选项" (or "≠"), joined by 全部满足 / 任一满足, picked from
the guide's own questions and their choices; a condition too complex for rows is left as it is
(and can be changed in the YAML view).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from pypinyin import lazy_pinyin
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString

# --- the YAML round trip ------------------------------------------------------------------------


def _yaml() -> YAML:
    # The layout of the files in guides/: 2-space maps, "  - " lists, no line wrapping.
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    y.brace_single_entry_mapping_in_flow_sequence = True
    return y


def load_tree(text: str) -> Any:
    """The round-trip tree. Call only on text the safe loader accepted (bot.guides.loader.parse_text
    refuses anchors, aliases, oversized and undecodable input first)."""
    return _yaml().load(text)


def dump_tree(tree: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(tree, buffer)
    return buffer.getvalue()


_IDENTITY_KEYS = ("id", "value", "material", "code", "question")


def _identity(entry: Any) -> Any:
    if isinstance(entry, Mapping):
        for key in _IDENTITY_KEYS:
            if key in entry:
                return (key, entry[key])
        return None
    if isinstance(entry, str | int | float | bool) or entry is None:
        return ("scalar", entry)
    return None


def _flow(node: Any) -> Any:
    """Conditions and short lists are written in flow style, as in the files."""
    if isinstance(node, CommentedMap | CommentedSeq):
        node.fa.set_flow_style()
        for child in node.values() if isinstance(node, CommentedMap) else node:
            _flow(child)
    return node


_RESOLVER = yaml.resolver.Resolver()


def _scalar(value: Any) -> Any:
    """A new string PyYAML (YAML 1.1, how guides are read) would take for something else, quoted:
    ruamel writes YAML 1.2, where “yes”, “off” or “012” are plain strings, but the loader would
    read them as a boolean or a number."""
    if isinstance(value, str) and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        return DoubleQuotedScalarString(value)
    return value


def _fresh(value: Any, flow: bool = False) -> Any:
    """A new node for plain data."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, child in value.items():
            node[key] = _fresh(child, flow or key == "when")
        return _flow(node) if flow else node
    if isinstance(value, list):
        seq = CommentedSeq(_fresh(v, flow) for v in value)
        return _flow(seq) if flow else seq
    return _scalar(value)


def _same_scalar(old: Any, new: Any) -> bool:
    return type(old) is type(new) or (isinstance(old, str) and isinstance(new, str)) if old == new else False


def merge(old: Any, new: Any, key: str | None = None) -> Any:
    """``new`` (plain data) as a node that reuses ``old``'s nodes wherever the value is the same."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        for gone in [k for k in old if k not in new]:
            del old[gone]
        previous: Any = None
        for k, value in new.items():
            if k in old:
                old[k] = merge(old[k], value, k)
            else:
                position = (list(old).index(previous) + 1) if previous in old else len(old)
                old.insert(position, k, _fresh(value, k == "when" or old.fa.flow_style()))
            previous = k
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list):
        flow = old.fa.flow_style()
        wanted = [_identity(v) for v in new]
        if None in wanted or len(set(wanted)) != len(wanted):  # no usable identity: element by element
            del old[len(new):]
            for i, value in enumerate(new):
                if i < len(old):
                    old[i] = merge(old[i], value)
                else:
                    old.append(_fresh(value, flow))
            return old
        keep = set(wanted)
        for i in reversed(range(len(old))):
            if _identity(old[i]) not in keep:
                del old[i]
        for i, value in enumerate(new):
            ident = wanted[i]
            j = next((j for j in range(i, len(old)) if _identity(old[j]) == ident), None)
            if j is None:
                old.insert(i, _fresh(value, flow))
            elif j != i:
                moved = old.pop(j)
                old.insert(i, merge(moved, value))
            else:
                old[i] = merge(old[i], value)
        return old
    if isinstance(new, Mapping | list):
        return _fresh(new, key == "when")
    if _same_scalar(old, new):
        return old
    if isinstance(new, str) and isinstance(old, FoldedScalarString | LiteralScalarString):
        return type(old)(new)  # keep the block style of a long text
    return _scalar(new)


def write_back(text: str, data: Any) -> str:
    """The YAML text with ``data`` (plain) put in, changing as little of the text as possible."""
    tree = load_tree(text)
    if tree is None:
        return dump_tree(_fresh(data))
    return dump_tree(merge(tree, data))


def to_yaml(data: Any) -> str:
    return dump_tree(_fresh(data))


# --- ids ------------------------------------------------------------------------------------------


def make_id(name: str, taken: Iterable[str], fallback: str = "x") -> str:
    """A slug for a new entry from its Chinese name (pinyin), unique among ``taken``."""
    words = [re.sub(r"[^a-z0-9]", "", w.lower()) for w in lazy_pinyin(name)]
    base = "_".join(w for w in words if w)[:40].strip("_") or fallback
    if not base[0].isalpha():
        base = f"{fallback}_{base}"[:40]
    taken = set(taken)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


# --- forms ----------------------------------------------------------------------------------------


class FormLike(Protocol):
    def get(self, name: str, default: str = "") -> str: ...

    def getlist(self, name: str) -> list[str]: ...


@dataclass
class Outcome:
    """What a form did: the new data, and errors to show beside fields (keys are field names)."""

    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def words(text: str) -> list[str]:
    """A list typed on one line: separated by 、 ， , ; or new lines."""
    return [w.strip() for w in re.split(r"[、，,;；\n]", text) if w.strip()]


def _set_text(entry: dict[str, Any], key: str, value: str, *, required: bool = False) -> None:
    value = value.strip()
    if value or required:
        if str(entry.get(key, "")).strip() != value:
            entry[key] = value
    else:
        entry.pop(key, None)


def _set_list(entry: dict[str, Any], key: str, values: list[str], *, keep_empty: bool = False) -> None:
    if values or keep_empty:
        if entry.get(key) != values:
            entry[key] = values
    elif key in entry and entry[key] == []:
        return  # an explicit "[]" in the file stays
    else:
        entry.pop(key, None)


def _set_int(entry: dict[str, Any], key: str, raw: str, errors: dict[str, str], *, default: int | None = None) -> None:
    raw = raw.strip()
    if not raw:
        if default is None:
            entry.pop(key, None)
        elif key in entry:
            entry[key] = default
        return
    try:
        value = int(raw)
    except ValueError:
        errors[key] = "应为整数"
        return
    if key not in entry and value == default:
        return
    entry[key] = value


def _set_bool(entry: dict[str, Any], key: str, value: bool) -> None:
    if value:
        entry[key] = True
    elif key in entry:
        entry[key] = False if entry[key] is not False else entry[key]


# --- conditions as rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CondRow:
    question: str
    value: str
    negated: bool = False

    @property
    def pick(self) -> str:
        return f"{self.question}={self.value}"


@dataclass(frozen=True)
class CondRows:
    mode: str  # "none", "all" or "any"
    rows: tuple[CondRow, ...] = ()
    complex: bool = False  # not expressible as rows: kept as it is


def _leaf_rows(cond: Any, negated: bool = False) -> list[CondRow] | None:
    if not isinstance(cond, Mapping):
        return None
    if set(cond) == {"question", "equals"}:
        return [CondRow(str(cond["question"]), str(cond["equals"]), negated)]
    if set(cond) == {"question", "in"} and isinstance(cond["in"], list):
        return [CondRow(str(cond["question"]), str(v), negated) for v in cond["in"]]
    if set(cond) == {"not"} and not negated:
        return _leaf_rows(cond["not"], True)
    return None


def condition_rows(cond: Any) -> CondRows:
    if cond is None:
        return CondRows("none")
    if isinstance(cond, Mapping) and set(cond) in ({"all"}, {"any"}):
        mode = next(iter(cond))
        rows: list[CondRow] = []
        for part in cond[mode] or []:
            found = _leaf_rows(part)
            # "in" means 任一: inside 全部满足 it is not one row per value.
            if found is None or (mode == "all" and len(found) > 1 and not found[0].negated):
                return CondRows(mode, complex=True)
            rows += found
        return CondRows(mode, tuple(rows))
    found = _leaf_rows(cond)
    if found is None:
        return CondRows("all", complex=True)
    if len(found) > 1:
        return CondRows("all" if found[0].negated else "any", tuple(found))
    return CondRows("all", tuple(found))


def _leaf(row: CondRow) -> dict[str, Any]:
    leaf = {"question": row.question, "equals": row.value}
    return {"not": leaf} if row.negated else leaf


def condition_from_rows(mode: str, rows: list[CondRow]) -> dict[str, Any] | None:
    rows = list(dict.fromkeys(rows))
    if mode == "none" or not rows:
        return None
    if len(rows) == 1:
        return _leaf(rows[0])
    if mode == "any" and not any(r.negated for r in rows) and len({r.question for r in rows}) == 1:
        return {"question": rows[0].question, "in": [r.value for r in rows]}
    return {mode: [_leaf(r) for r in rows]}


def condition_choices(guide: Mapping[str, Any], before: str | None = None) -> list[tuple[str, str]]:
    """("question=value", "问题：选项") for every question (those before ``before`` only) and choice."""
    out: list[tuple[str, str]] = []
    for question in guide.get("questions") or []:
        if before is not None and question.get("id") == before:
            break
        for choice in question.get("choices") or []:
            out.append((f"{question.get('id')}={choice.get('value')}", f"{question.get('text')} → {choice.get('title')}"))
    return out


def read_condition(form: FormLike, prefix: str, old: Any, errors: dict[str, str], known: set[str]) -> Any:
    """The condition a builder submitted (fields ``<prefix>.mode``, ``<prefix>.<n>.pick``/``.neg``)."""
    before = condition_rows(old)
    mode = form.get(f"{prefix}.mode", before.mode)
    if before.complex and form.get(f"{prefix}.mode", "keep") == "keep":
        return old
    if mode not in ("none", "all", "any"):
        errors[prefix] = "条件方式不对"
        return old
    rows: list[CondRow] = []
    for n in range(20):
        pick = form.get(f"{prefix}.{n}.pick")
        if not pick:
            continue
        if pick not in known or "=" not in pick:
            errors[prefix] = "条件只能从本事项的问题和选项中选择"
            return old
        question, value = pick.split("=", 1)
        rows.append(CondRow(question, value, form.get(f"{prefix}.{n}.neg") == "1"))
    if not before.complex and before.mode == (mode if rows else "none") and before.rows == tuple(dict.fromkeys(rows)):
        return old  # unchanged: keep how the file wrote it
    return condition_from_rows(mode, rows)


def _put_condition(entry: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        entry.pop(key, None)
    else:
        entry[key] = value


# --- the sections ---------------------------------------------------------------------------------

BASIC_TEXT = ("title", "sample_notice", "summary", "fees")
BASIC_LISTS = ("aliases", "keywords", "joint_departments", "basis", "acceptance", "process", "results", "delivery")
WHERE_FIELDS = ("window", "address", "hours", "online", "phone")


def basic_values(guide: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {k: guide.get(k, "") for k in BASIC_TEXT}
    values |= {k: "\n".join(str(x) for x in guide.get(k) or []) for k in BASIC_LISTS}
    values |= {k: guide.get(k, "") for k in ("audience", "lead_department")}
    values |= {k: "" if guide.get(k) is None else str(guide[k]) for k in ("time_limit_days", "legal_time_limit_days")}
    where = guide.get("where") or {}
    values |= {f"where.{k}": "" if where.get(k) is None else str(where[k]) for k in WHERE_FIELDS}
    return values


def apply_basic(guide: Mapping[str, Any], form: FormLike, *, may_change_department: bool) -> Outcome:
    data = dict(guide)
    errors: dict[str, str] = {}
    for key in BASIC_TEXT:
        _set_text(data, key, form.get(key), required=True)
    for key in BASIC_LISTS:
        _set_list(data, key, lines(form.get(key)), keep_empty=key in ("aliases", "basis", "acceptance", "process"))
    _set_text(data, "audience", form.get("audience"), required=True)
    if may_change_department:
        _set_text(data, "lead_department", form.get("lead_department"), required=True)
    _set_int(data, "time_limit_days", form.get("time_limit_days"), errors)
    _set_int(data, "legal_time_limit_days", form.get("legal_time_limit_days"), errors)
    where = dict(data.get("where") or {})
    for key in WHERE_FIELDS:
        _set_text(where, key, form.get(f"where.{key}"), required=key != "phone")
    data["where"] = where
    return Outcome(data, {k: v for k, v in errors.items()})


def material_values(material: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": material.get("id", ""),
        "name": material.get("name", ""),
        "form": material.get("form", "原件"),
        "copies": str(material.get("copies", 1)),
        "licence": material.get("licence") or "",
        "shared_data": material.get("shared_data") or "",
        "produced_by": material.get("produced_by") or "",
        "deferrable": bool(material.get("deferrable")),
        "deferrable_note": material.get("deferrable_note") or "",
        "why": material.get("why") or "",
        "note": material.get("note") or "",
        "aliases": "、".join(material.get("aliases") or []),
    }


def apply_material(material: Mapping[str, Any], form: FormLike) -> Outcome:
    """One material from its form. 免 is declared by *why* it need not be brought, any of: an
    e-licence of the 电子证照目录 that is shared, named shared data, or a sub-item of the same
    一件事 that produces it (bot.guides.checklist.exemption decides from these)."""
    data = dict(material)
    errors: dict[str, str] = {}
    _set_text(data, "name", form.get("name"), required=True)
    if form.get("form", "原件") != data.get("form", "原件"):
        data["form"] = form.get("form")
    _set_int(data, "copies", form.get("copies"), errors, default=1)
    for key in ("licence", "shared_data", "produced_by"):
        _set_text(data, key, form.get(key))
    _set_bool(data, "deferrable", form.get("deferrable") == "1")
    for key in ("deferrable_note", "why", "note"):
        _set_text(data, key, form.get(key))
    _set_list(data, "aliases", words(form.get("aliases")))
    return Outcome(data, errors)


def question_values(question: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": question.get("id", ""),
        "text": question.get("text", ""),
        "help": question.get("help") or "",
        "choices": [
            {"value": c.get("value", ""), "title": c.get("title", ""), "synonyms": "、".join(c.get("synonyms") or [])}
            for c in question.get("choices") or []
        ],
        "when": condition_rows(question.get("when")),
    }


def apply_question(guide: Mapping[str, Any], question: Mapping[str, Any], form: FormLike) -> Outcome:
    data = dict(question)
    errors: dict[str, str] = {}
    _set_text(data, "text", form.get("text"), required=True)
    _set_text(data, "help", form.get("help"))
    old_choices = {c.get("value"): c for c in question.get("choices") or []}
    choices: list[dict[str, Any]] = []
    for n in range(12):
        title = form.get(f"choice.{n}.title").strip()
        value = form.get(f"choice.{n}.value").strip()
        if form.get(f"choice.{n}.delete") == "1" or (not title and not value):
            continue
        if not value:
            value = make_id(title, [c["value"] for c in choices] + list(old_choices), "choice")
        choice = dict(old_choices.get(value) or {"value": value})
        _set_text(choice, "title", title, required=True)
        _set_list(choice, "synonyms", words(form.get(f"choice.{n}.synonyms")))
        choices.append(choice)
    data["choices"] = choices
    known = {pick for pick, _ in condition_choices(guide, before=str(question.get("id")))}
    _put_condition(data, "when", read_condition(form, "when", question.get("when"), errors, known))
    return Outcome(data, errors)


def item_values(guide: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    refs = {r.get("material"): r for r in item.get("materials") or []}
    return {
        "id": item.get("id", ""),
        "title": item.get("title", ""),
        "short_title": item.get("short_title") or "",
        "aliases": "、".join(item.get("aliases") or []),
        "department": item.get("department", ""),
        "time_limit_days": "" if item.get("time_limit_days") is None else str(item["time_limit_days"]),
        "optional": bool(item.get("optional")),
        "not_applicable_note": item.get("not_applicable_note") or "",
        "note": item.get("note") or "",
        "when": condition_rows(item.get("when")),
        "materials": [
            {
                "id": m.get("id"), "name": m.get("name"), "used": m.get("id") in refs,
                "when": condition_rows((refs.get(m.get("id")) or {}).get("when")),
            }
            for m in guide.get("materials") or []
        ],
    }


def apply_item(guide: Mapping[str, Any], item: Mapping[str, Any], form: FormLike) -> Outcome:
    data = dict(item)
    errors: dict[str, str] = {}
    _set_text(data, "title", form.get("title"), required=True)
    for key in ("short_title", "not_applicable_note", "note"):
        _set_text(data, key, form.get(key))
    _set_text(data, "department", form.get("department"), required=True)
    _set_list(data, "aliases", words(form.get("aliases")))
    _set_int(data, "time_limit_days", form.get("time_limit_days"), errors)
    _set_bool(data, "optional", form.get("optional") == "1")
    known = {pick for pick, _ in condition_choices(guide)}
    _put_condition(data, "when", read_condition(form, "when", item.get("when"), errors, known))
    old_refs = {r.get("material"): r for r in item.get("materials") or []}
    chosen = set(form.getlist("materials"))
    refs: list[dict[str, Any]] = []
    # Kept in the item's own order, new ones after, in the guide's material order.
    order = [r.get("material") for r in item.get("materials") or []]
    order += [m.get("id") for m in guide.get("materials") or [] if m.get("id") not in order]
    for material_id in order:
        if material_id not in chosen:
            continue
        ref = dict(old_refs.get(material_id) or {"material": material_id})
        old_when = (old_refs.get(material_id) or {}).get("when")
        _put_condition(ref, "when", read_condition(form, f"mat.{material_id}", old_when, errors, known))
        refs.append(ref)
    if refs or "materials" in data:
        data["materials"] = refs
    return Outcome(data, errors)


def replace_entry(guide: Mapping[str, Any], section: str, entry_id: str | None, entry: dict[str, Any]) -> dict[str, Any]:
    """The guide with one entry of ``section`` replaced (or added at the end when ``entry_id`` is None)."""
    data = dict(guide)
    entries = list(data.get(section) or [])
    index = next((i for i, e in enumerate(entries) if e.get("id") == entry_id), None) if entry_id else None
    if index is None:
        entries.append(entry)
    else:
        entries[index] = entry
    data[section] = entries
    return data


def entry_index(guide: Mapping[str, Any], section: str, entry_id: str) -> int | None:
    return next((i for i, e in enumerate(guide.get(section) or []) if e.get("id") == entry_id), None)


def move_entry(guide: Mapping[str, Any], section: str, entry_id: str, step: int) -> dict[str, Any]:
    data = dict(guide)
    entries = list(data.get(section) or [])
    i = entry_index(data, section, entry_id)
    if i is not None and 0 <= i + step < len(entries):
        entries[i], entries[i + step] = entries[i + step], entries[i]
    data[section] = entries
    return data


def uses_of(guide: Mapping[str, Any], section: str, entry_id: str) -> list[str]:
    """Where an entry is referred to (a question in conditions, a material in sub-items, a
    sub-item as producer), worded for staff; deleting is refused while there are any."""
    found: list[str] = []

    def mentions(cond: Any) -> bool:
        if isinstance(cond, Mapping):
            return cond.get("question") == entry_id or any(mentions(v) for v in cond.values())
        if isinstance(cond, list):
            return any(mentions(v) for v in cond)
        return False

    for item in guide.get("items") or []:
        if section == "questions" and mentions(item.get("when")):
            found.append(f"事项“{item.get('title')}”的适用条件")
        for ref in item.get("materials") or []:
            if section == "questions" and mentions(ref.get("when")):
                found.append(f"事项“{item.get('title')}”中材料 {ref.get('material')} 的条件")
    for question in guide.get("questions") or []:
        if section == "questions" and question.get("id") != entry_id and mentions(question.get("when")):
            found.append(f"问题“{question.get('text')}”的前提条件")
    if section == "items":
        producing = [m for m in guide.get("materials") or [] if m.get("produced_by") == entry_id]
        found += [f"材料“{m.get('name')}”（由此事项产生）" for m in producing]
    return found


def delete_entry(guide: Mapping[str, Any], section: str, entry_id: str) -> dict[str, Any]:
    """The guide without the entry; a material also leaves the sub-items that listed it."""
    data = dict(guide)
    data[section] = [e for e in data.get(section) or [] if e.get("id") != entry_id]
    if section == "materials":
        items = []
        for item in data.get("items") or []:
            refs = item.get("materials")
            if refs and any(r.get("material") == entry_id for r in refs):
                item = {**item, "materials": [r for r in refs if r.get("material") != entry_id]}
            items.append(item)
        data["items"] = items
    return data


def new_guide(guide_id: str, title: str, department: str, audience: str) -> dict[str, Any]:
    """A new guide's first draft: every required field present, to be filled in."""
    return {
        "id": guide_id,
        "title": title,
        "sample_notice": f"样例内容，须经{department}确认",
        "summary": "（请填写：这件事包含哪些事项，一次办好能省去什么）",
        "audience": audience,
        "aliases": [title.removesuffix("一件事")],
        "lead_department": department,
        "basis": ["（请填写设定依据）"],
        "acceptance": ["（请填写受理条件）"],
        "process": ["（请填写办理流程）"],
        "fees": "不收费",
        "time_limit_days": 5,
        "results": ["（请填写办理结果）"],
        "delivery": ["窗口领取"],
        "where": {"window": "（请填写窗口）", "address": "（请填写地址）", "hours": "周一至周五 上午8:30-12:00，下午14:30-17:30",
                  "online": f"豫事办APP → 一件事一次办 → {title}"},
        "questions": [],
        "materials": [{"id": "application_form", "name": "申请表", "form": "现场填写"}],
        "items": [{"id": "main", "title": title.removesuffix("一件事"), "department": department,
                   "materials": [{"material": "application_form"}]}],
    }
