"""loader.py (YAML with line numbers, refusing what staff never need) and lint.py (checks in Chinese)."""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot import cli
from bot.guides import loader
from bot.guides.catalog import Catalog
from bot.guides.lint import lint_directory
from bot.guides.loader import (
    MAX_FILE_BYTES,
    GuideFileError,
    Problem,
    load_directory,
    load_guide,
    parse_text,
)

ROOT = Path(__file__).resolve().parents[2]

MakeDir = Callable[..., Path]
ToYaml = Callable[[Any], str]
FindLine = Callable[..., int]


def _problems(exc: pytest.ExceptionInfo[GuideFileError]) -> list[Problem]:
    return exc.value.problems


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "错误"]


# --- loader: line numbers -----------------------------------------------------------------


def test_schema_error_deep_in_item_material_reports_its_line(
    tmp_path: Path, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["items"][2]["materials"][3]["material"] = "Bad-Material-Id"
    text = to_yaml(demo_data)
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    problems = _problems(exc)
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.file == "guides/demo.yml"
    assert problem.line == find_line(text, "Bad-Material-Id")
    assert problem.line > 100  # really deep in the file, not the start of the item
    assert "items.2.materials.3.material" in problem.message
    assert "格式不对" in problem.message
    assert re.fullmatch(r"guides/demo\.yml:\d+: 错误：.+", str(problem))


def test_unknown_key_deep_in_item_material_reports_its_line(
    tmp_path: Path, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["items"][1]["materials"][3]["materal"] = "form"
    text = to_yaml(demo_data)
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    assert [(p.line, p.message) for p in _problems(exc)] == [
        (find_line(text, "materal:"), "items.1.materials.3.materal：不认识的字段（可能拼写有误）")
    ]


def test_missing_field_reports_the_line_of_its_mapping(
    tmp_path: Path, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    del demo_data["items"][3]["department"]
    text = to_yaml(demo_data)
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    [problem] = _problems(exc)
    assert problem.line == find_line(text, "- id: extra")
    assert "items.3.department" in problem.message and "缺少必填字段" in problem.message


def test_out_of_range_number_is_worded_in_chinese(
    tmp_path: Path, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["time_limit_days"] = 999
    text = to_yaml(demo_data)
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    [problem] = _problems(exc)
    assert problem.line == find_line(text, "time_limit_days: 999")
    assert "数值太大" in problem.message and "365" in problem.message


def test_bad_condition_value_is_one_clean_problem(
    tmp_path: Path, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["items"][2]["materials"][2]["when"]["all"][1]["equals"] = "Bad-Value"
    text = to_yaml(demo_data)
    path = tmp_path / "demo.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    problems = _problems(exc)
    # The right line is among them either way.
    assert find_line(text, "Bad-Value") in [p.line for p in problems]
    assert not [p for p in problems if "function-after" in p.message], problems
    assert len(problems) == 1, problems


def test_yaml_syntax_error_reports_line(tmp_path: Path) -> None:
    with pytest.raises(GuideFileError) as exc:
        parse_text("id: demo\ntitle: 标题\naliases: [a, b\nsummary: x\n".encode(), "guides/bad.yml")
    [problem] = _problems(exc)
    assert problem.file == "guides/bad.yml"
    assert problem.line == 4  # where the scanner notices the unclosed flow sequence (at `summary:`)
    assert problem.message.startswith("YAML 格式错误")


def test_non_mapping_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.yml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    assert "键值对" in _problems(exc)[0].message


# --- loader: what is refused ----------------------------------------------------------------

BILLION_LAUGHS = """# 十亿笑声
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    assert time.perf_counter() - started < 1.0
    [problem] = _problems(exc)
    assert problem.line == 2  # the first anchor, after the comment line
    assert "锚点" in problem.message and "别名" in problem.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("id: demo\ntitle: &t 标题\n", 2),  # an anchor alone
        ("id: demo\n\nlist:\n  - &x {a: 1}\n  - *x\n", 4),
        ("id: demo\nx: !!str &y 1\n", 2),
    ],
)
def test_any_anchor_or_alias_is_refused(text: str, line: int) -> None:
    with pytest.raises(GuideFileError) as exc:
        parse_text(text.encode(), "guides/demo.yml")
    [problem] = _problems(exc)
    assert problem.line == line
    assert "锚点" in problem.message


def test_invalid_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yml"
    path.write_bytes("id: demo\ntitle: 标题\n".encode() + "summary: 新生儿出生\n".encode("gbk"))
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    [problem] = _problems(exc)
    assert problem.line == 3
    assert "UTF-8" in problem.message


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    # Valid YAML, but one byte over the limit: refused for its size alone.
    path.write_bytes(b"a: " + b"x" * (MAX_FILE_BYTES - 3) + b"\n")
    assert path.stat().st_size == MAX_FILE_BYTES + 1
    with pytest.raises(GuideFileError) as exc:
        load_guide(path)
    [problem] = _problems(exc)
    assert problem.line == 1
    assert "文件太大" in problem.message and str(MAX_FILE_BYTES) in problem.message


def test_size_limit_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 100)  # same rule, cheaper to parse
    at_limit = b"a: " + b"x" * 96 + b"\n"
    assert len(at_limit) == 100
    assert parse_text(at_limit, "guides/ok.yml").data == {"a": "x" * 96}
    with pytest.raises(GuideFileError) as exc:
        parse_text(at_limit + b"#", "guides/ok.yml")
    assert "文件太大（101 字节，上限 100）" in _problems(exc)[0].message


def test_load_directory_keeps_good_files_and_reports_bad_ones(
    make_guides_dir: MakeDir, demo_data: dict[str, Any]
) -> None:
    directory = make_guides_dir({"demo": demo_data, "bomb": BILLION_LAUGHS})
    loaded = load_directory(directory)
    assert list(loaded.guides) == ["demo"]
    assert [p.file for p in loaded.problems] == ["guides/bomb.yml"]


def test_missing_licences_file_is_a_problem(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    directory = make_guides_dir({"demo": demo_data})
    (directory / "licences.yml").unlink()
    loaded = load_directory(directory)
    assert loaded.licences is None
    assert any(p.file == "guides/licences.yml" and "电子证照目录" in p.message for p in loaded.problems)


# --- lint ---------------------------------------------------------------------------------


def _lint(make_guides_dir: MakeDir, guides: dict[str, Any]) -> list[Problem]:
    return lint_directory(make_guides_dir(guides))


def test_demo_guide_lints_clean(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    assert _lint(make_guides_dir, {"demo": demo_data}) == []


def test_lint_unknown_licence_code_at_its_line(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["materials"][2]["licence"] = "no_such_licence"
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert [(p.file, p.line, p.severity) for p in problems] == [
        ("guides/demo.yml", find_line(to_yaml(demo_data), "licence: no_such_licence"), "错误")
    ]
    assert "电子证照目录中没有证照代码" in problems[0].message and "no_such_licence" in problems[0].message


def test_lint_question_never_referenced(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["questions"].append(
        {"id": "orphan", "text": "没人用的问题？", "choices": [{"value": "a", "title": "甲"}, {"value": "b", "title": "乙"}]}
    )
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert len(problems) == 1, problems
    assert problems[0].line == find_line(to_yaml(demo_data), "- id: orphan")
    assert "“orphan”" in problems[0].message and "永远不会被问到" in problems[0].message
    assert problems[0].severity == "错误"


def test_lint_condition_naming_unknown_question(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["items"][2]["when"] = {"question": "ghost", "equals": "local"}  # was the only use of `local`
    problems = _lint(make_guides_dir, {"demo": demo_data})
    text = to_yaml(demo_data)
    ghost = [p for p in problems if "ghost" in p.message]
    assert [(p.line, p.message) for p in ghost] == [(find_line(text, "question: ghost"), "条件引用了不存在的问题 “ghost”")]
    # `local` is now used by no condition at all: reported as never asked.
    assert any("“local”" in p.message and "永远不会被问到" in p.message for p in problems)


def test_lint_condition_naming_unknown_value(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["items"][2]["materials"][1]["when"] = {"question": "married", "equals": "maybe"}
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert len(problems) == 1, problems
    text = to_yaml(demo_data)
    # The line where that condition's mapping starts (`question: married`, just above `equals: maybe`).
    assert problems[0].line == find_line(text, "equals: maybe") - 1
    assert "“married”" in problems[0].message and "“maybe”" in problems[0].message
    assert "可选：no、yes" in problems[0].message


def test_lint_unknown_value_inside_in_list(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    demo_data["items"][2]["when"] = {"question": "local", "in": ["local", "abroad"]}
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert len(problems) == 1 and "“abroad”" in problems[0].message


def test_lint_question_when_referencing_a_later_question(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["questions"][0]["when"] = {"question": "local", "equals": "local"}  # local is asked third
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert len(problems) == 1, problems
    text = to_yaml(demo_data)
    # The condition's mapping starts on the line after `when:` of questions[0].
    assert problems[0].line == find_line(text, "question: local")
    assert "排在它前面" in problems[0].message and "“local”" in problems[0].message


def test_lint_question_when_referencing_itself(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    demo_data["questions"][1]["when"] = {"question": "follow", "equals": "father"}
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert any("排在它前面" in p.message and "“follow”" in p.message for p in problems)


def test_lint_alias_claimed_by_two_guides_reports_both_files(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    other = {**demo_data, "id": "other", "title": "另一个演示一件事", "aliases": ["别的说法", "示例演示事项"]}
    problems = _lint(make_guides_dir, {"demo": demo_data, "other": other})
    alias = [p for p in problems if "示例演示事项" in p.message]
    assert sorted((p.file, p.line) for p in alias) == [
        ("guides/demo.yml", find_line(to_yaml(demo_data), "- 示例演示事项")),
        ("guides/other.yml", find_line(to_yaml(other), "- 示例演示事项")),
    ]
    by_file = {p.file: p.message for p in alias}
    assert "other" in by_file["guides/demo.yml"] and "demo" in by_file["guides/other.yml"]
    assert len(problems) == 2, problems


def test_lint_alias_equal_to_another_guides_title(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    other = {**demo_data, "id": "other", "title": "另一个演示一件事", "aliases": ["示例演示一件事"]}
    problems = _lint(make_guides_dir, {"demo": demo_data, "other": other})
    assert sorted(p.file for p in problems) == ["guides/demo.yml", "guides/other.yml"]


def test_lint_material_ref_to_unknown_material(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["items"][0]["materials"].append({"material": "ghost_material"})
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert len(problems) == 1, problems
    assert problems[0].line == find_line(to_yaml(demo_data), "material: ghost_material")
    assert "“first”" in problems[0].message and "“ghost_material”" in problems[0].message


def test_lint_produced_by_unknown_item(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["materials"][4]["produced_by"] = "nowhere"
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert [(p.line, "nowhere" in p.message) for p in problems] == [(find_line(to_yaml(demo_data), "produced_by: nowhere"), True)]


def test_lint_duplicate_ids_and_file_name(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    demo_data["materials"].append({"id": "form", "name": "又一张申请表"})
    demo_data["questions"][0]["choices"].append({"value": "yes", "title": "再一个已婚"})
    problems = _lint(make_guides_dir, {"renamed": demo_data})
    messages = " | ".join(p.message for p in problems)
    assert "材料 id “form” 重复" in messages
    assert "选项 “yes” 重复" in messages
    assert "应与文件名 “renamed” 一致" in messages


def test_lint_unused_material_is_only_a_reminder(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    demo_data["materials"].append({"id": "spare", "name": "多余材料"})
    problems = _lint(make_guides_dir, {"demo": demo_data})
    assert [(p.severity, "spare" in p.message) for p in problems] == [("提醒", True)]


def test_real_guides_lint_without_errors(real_catalog: Catalog) -> None:
    # real_catalog.problems is lint_loaded(load_directory(guides/)), computed once per session.
    errors = _errors(list(real_catalog.problems))
    assert errors == [], "\n".join(map(str, errors))
    assert len(real_catalog.guides) == 21


# --- the CLI ------------------------------------------------------------------------------


def _cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "guides", "lint", *args]


def _start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _cli_command(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


# Linting the real guides/ in a fresh process takes seconds (pure-Python YAML): start it when this module
# is collected so it runs alongside the other tests; test_cli_lint_real_guides_exits_0 collects the result.
_REAL_LINT = _start_cli()
atexit.register(_REAL_LINT.kill)  # a no-op once it has finished; ends it if the test was deselected


def test_cli_lint_real_guides_exits_0() -> None:
    stdout, stderr = _REAL_LINT.communicate(timeout=120)
    assert _REAL_LINT.returncode == 0, stdout + stderr
    assert "检查完成：0 个错误" in stdout


def test_cli_lint_broken_dir_exits_1_with_file_and_line(
    make_guides_dir: MakeDir, demo_data: dict[str, Any], to_yaml: ToYaml, find_line: FindLine
) -> None:
    demo_data["materials"][2]["licence"] = "no_such_licence"
    directory = make_guides_dir({"demo": demo_data})
    process = _start_cli("--dir", str(directory))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stdout + stderr
    line = find_line(to_yaml(demo_data), "licence: no_such_licence")
    assert f"guides/demo.yml:{line}: 错误：电子证照目录中没有证照代码 “no_such_licence”" in stdout
    assert re.search(r"^guides/[a-z_]+\.yml:\d+: 错误：", stdout, re.MULTILINE)
    assert "检查完成：1 个错误，0 个提醒" in stdout


def test_cli_lint_reminders_alone_exit_0(make_guides_dir: MakeDir, demo_data: dict[str, Any]) -> None:
    demo_data["materials"].append({"id": "spare", "name": "多余材料"})
    result = CliRunner().invoke(cli.app, ["guides", "lint", "--dir", str(make_guides_dir({"demo": demo_data}))])
    assert result.exit_code == 0, result.output
    assert "guides/demo.yml:" in result.output and "提醒：材料 “spare” 没有被任何事项用到" in result.output
    assert "检查完成：0 个错误，1 个提醒" in result.output
