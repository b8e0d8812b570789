"""Read guides/ into validated models, keeping file and line for every problem.

Files are parsed in two passes: PyYAML's composer gives the node tree with line marks (so a
pydantic error location can be mapped back to a line), then the plain data is validated. Anchors
and aliases are refused outright: staff never need them and they are how YAML bombs work.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.guides.schema import Guide, LicenceCatalog

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 256 * 1024
# libyaml's safe loader when PyYAML has it (several times faster: every publish rebuilds the catalog).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LICENCES_FILE = "licences.yml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a guide file, worded in Chinese for the staff who edit it."""

    file: str
    line: int
    message: str
    severity: str = "错误"  # 错误 fails the lint; 提醒 does not
    # Whether the running system must leave the file out. An alias claimed by two guides is an
    # error to fix, but both guides still work (the matcher offers both).
    blocks_loading: bool = True
    # Where in the document (a pydantic-style path such as ("materials", 3, "licence")), so the
    # browser editor can show the message beside the field; () when it concerns the whole file.
    loc: tuple[str | int, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}：{self.message}"


@dataclass
class ParsedFile:
    path: Path
    data: Any
    node: yaml.Node | None


class GuideFileError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


_ERROR_WORDING = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不认识的字段（可能拼写有误）",
    "string_type": "应为文字",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "dict_type": "应为键值对",
    "model_type": "应为键值对",
    "model_attributes_type": "应为键值对",
    "string_pattern_mismatch": "格式不对：只能用小写英文字母、数字和下划线，并以字母开头",
    "string_too_short": "不能为空",
    "string_too_long": "太长了",
    "too_short": "项数太少",
    "too_long": "项数太多",
    "literal_error": "取值不在允许范围内",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "union_tag_invalid": "条件格式不对",
}


def _wording(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "value_error":
        return str(err.get("ctx", {}).get("error", err["msg"]))
    base = _ERROR_WORDING.get(kind, err["msg"])
    ctx = err.get("ctx") or {}
    if kind == "literal_error" and "expected" in ctx:
        return f"{base}，可选：{ctx['expected']}"
    if kind in ("too_short", "too_long") and "min_length" in ctx:
        return f"{base}（至少 {ctx['min_length']} 项）"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return f"{base}（界限 {bound}）"
    return base


def node_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node along a pydantic error location."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    current: yaml.Node = node
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            key = {"in_": "in", "not_": "not"}.get(part, part)
            for k, v in current.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    nxt = v
                    break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(current.value):
            nxt = current.value[part]
        if nxt is None:
            continue  # union member names and the like are not in the file
        current = nxt
        line = current.start_mark.line + 1
    return line


def parse_file(path: Path, display: str | None = None) -> ParsedFile:
    """Decode, size-check and parse one YAML file; raises GuideFileError in Chinese."""
    name = display or path.name
    raw = path.read_bytes()
    return parse_text(raw, name, path)


def parse_text(raw: bytes, name: str, path: Path | None = None) -> ParsedFile:
    if len(raw) > MAX_FILE_BYTES:
        raise GuideFileError([Problem(name, 1, f"文件太大（{len(raw)} 字节，上限 {MAX_FILE_BYTES}）")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise GuideFileError([Problem(name, line, "不是有效的 UTF-8 编码文字")]) from exc
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line = event.start_mark.line + 1
                raise GuideFileError([Problem(name, line, "不允许使用 YAML 锚点或别名（& 和 *）")])
        node = yaml.compose(text, Loader=_Loader)
        # The data from the same node tree (one parse instead of two).
        data = _Loader("").construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise GuideFileError([Problem(name, line, f"YAML 格式错误：{getattr(exc, 'problem', exc)}")]) from exc
    return ParsedFile(path or Path(name), data, node)


_UNION_MEMBERS = ("AnswerIs", "AllOf", "AnyOf", "NotOf")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part in _UNION_MEMBERS or "[" in part)


def _best_union_branch(errors: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """A condition is a union: report the branch the author meant, not one error per kind.

    Innermost unions are resolved first; at each union the branch with the fewest structural
    errors (missing or unknown keys) is the one the author was writing.
    """
    kept: list[dict[str, Any]] = []
    unions: dict[tuple[Any, ...], dict[Any, list[dict[str, Any]]]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        tag = next((i for i in range(start, len(loc)) if _is_union_tag(loc[i])), None)
        if tag is None:
            kept.append(err)
        else:
            unions.setdefault(loc[:tag], {}).setdefault(loc[tag], []).append(err)
    for branches in unions.values():
        resolved = []
        for branch_errors in branches.values():
            tag_at = next(i for i, p in enumerate(branch_errors[0]["loc"]) if _is_union_tag(p) and i >= start)
            sub = _best_union_branch(branch_errors, tag_at + 1)
            structural = sum(1 for e in sub if e["type"] in ("missing", "extra_forbidden"))
            resolved.append(((structural, len(sub)), sub))
        kept.extend(min(resolved, key=lambda r: r[0])[1])
    return kept


def validation_problems(exc: ValidationError, parsed: ParsedFile, name: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    for err in _best_union_branch(list(exc.errors())):
        loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
        where = ".".join(str(p) for p in loc)
        message = f"{where}：{_wording(err)}" if where else _wording(err)
        line = node_line(parsed.node, loc)
        if (line, message) in seen:
            continue
        seen.add((line, message))
        problems.append(Problem(name, line, message, loc=tuple(p for p in loc if isinstance(p, str | int))))
    return problems


def load_guide(path: Path, display: str | None = None) -> tuple[Guide, ParsedFile]:
    return load_guide_bytes(path.read_bytes(), path, display)


def load_guide_bytes(raw: bytes, path: Path, display: str | None = None) -> tuple[Guide, ParsedFile]:
    """A guide from its bytes (a file, or a version published in the browser editor)."""
    name = display or f"guides/{path.name}"
    parsed = parse_text(raw, name, path)
    if not isinstance(parsed.data, dict):
        raise GuideFileError([Problem(name, 1, "文件内容应为一个“一件事”的键值对")])
    try:
        guide = Guide.model_validate(parsed.data)
    except ValidationError as exc:
        raise GuideFileError(validation_problems(exc, parsed, name)) from exc
    return guide, parsed


def load_licences(path: Path) -> LicenceCatalog:
    name = f"guides/{path.name}"
    parsed = parse_file(path, name)
    try:
        return LicenceCatalog.model_validate(parsed.data)
    except ValidationError as exc:
        raise GuideFileError(validation_problems(exc, parsed, name)) from exc


@dataclass
class LoadedGuides:
    """Everything read from one guides/ directory, with what could not be read."""

    guides: dict[str, Guide] = field(default_factory=dict)
    parsed: dict[str, ParsedFile] = field(default_factory=dict)
    licences: LicenceCatalog | None = None
    problems: list[Problem] = field(default_factory=list)


def guide_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yml") if p.name != LICENCES_FILE)


def load_directory(directory: Path, overrides: Mapping[str, bytes] | None = None) -> LoadedGuides:
    """Every guide of ``directory``; ``overrides`` (file name -> content) replace or add files.

    The overrides are the versions staff published in the browser editor: the files stay the
    source of a fresh install, a published version wins over its file.
    """
    overrides = {n: b for n, b in (overrides or {}).items() if n.endswith(".yml") and "/" not in n and n != LICENCES_FILE}
    result = LoadedGuides()
    try:
        result.licences = load_licences(directory / LICENCES_FILE)
    except FileNotFoundError:
        result.problems.append(Problem(f"guides/{LICENCES_FILE}", 1, "缺少电子证照目录文件"))
    except GuideFileError as exc:
        result.problems.extend(exc.problems)
    paths = {p.name: p for p in guide_files(directory)} | {n: directory / n for n in overrides}
    for name in sorted(paths):
        path = paths[name]
        try:
            guide, parsed = load_guide_bytes(overrides[name], path) if name in overrides else load_guide(path)
        except GuideFileError as exc:
            result.problems.extend(exc.problems)
            continue
        if guide.id in result.guides:
            result.problems.append(Problem(f"guides/{path.name}", 1, f"id “{guide.id}” 与其他文件重复"))
            continue
        result.guides[guide.id] = guide
        result.parsed[guide.id] = parsed
    return result
