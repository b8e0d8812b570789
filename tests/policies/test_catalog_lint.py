"""The shipped policies load cleanly; a broken policy file is reported in Chinese with its line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app as cli
from bot.policies.catalog import PolicyCatalog, lint_policies
from tests.policies.conftest import GUIDES, TODAY

GOOD = (GUIDES / "policies" / "wengang_fanhuan.yml").read_text(encoding="utf-8")


def test_shipped_policies(catalog: PolicyCatalog) -> None:
    assert lint_policies(GUIDES, TODAY) == []  # on the tests' day no window is near its end (test_validity.py)
    assert len(catalog) >= 12
    assert {p.kind for p in catalog.policies.values()} == {"list", "condition", "manual"}
    assert all(p.sample_notice for p in catalog.policies.values())  # samples, to be confirmed by the departments
    assert len(catalog.in_force(TODAY)) >= 12
    titles = {p.title for p in catalog.policies.values()}
    assert {"失业保险稳岗返还", "一次性扩岗补助", "小微企业“六税两费”减半征收"} <= titles
    assert any("个体工商户" in (leaf_text := str(p.conditions)) for p in catalog.policies.values()) and leaf_text


def _lint(tmp_path: Path, text: str, name: str = "wengang_fanhuan.yml") -> list[str]:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / name).write_text(text, encoding="utf-8")
    return [str(p) for p in lint_policies(tmp_path, TODAY)]


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_unknown_field_is_reported_at_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("field: dishonest\n      equals: false", "field: dishonst\n      equals: false")
    problems = _lint(tmp_path, text)
    assert problems == [
        f"guides/policies/wengang_fanhuan.yml:{_line(text, 'dishonst')}: 错误：conditions.all.2："
        f"企业画像中没有字段 “dishonst”（可用：{'、'.join(__import__('bot.policies.fields', fromlist=['NAMES']).NAMES)}）"
    ]


def test_bad_values(tmp_path: Path) -> None:
    text = GOOD.replace("equals: 大型", "equals: 巨型").replace("le: 5.5\n", "le: 五点五\n")
    problems = "\n".join(_lint(tmp_path, text))
    assert "“企业规模”（scale） 没有取值 “巨型”（可选：大型、中型、小型、微型）" in problems
    assert "“上年度裁员率”（layoff_rate） 是数值字段，取值应为数字" in problems
    assert f"wengang_fanhuan.yml:{_line(text, '巨型')}:" in problems


def test_undeclared_data_and_kind_parts(tmp_path: Path) -> None:
    text = GOOD.replace("\n  - field: insured_count\n  - field: dishonest\n", "\n  - field: dishonest\n")
    assert any("参保人数" in p and "data 中没有写明" in p for p in _lint(tmp_path, text))
    listed = GOOD.replace("kind: condition", "kind: list")
    assert any("须写 list" in p for p in _lint(tmp_path, listed))
    manual = GOOD.replace("kind: condition", "kind: manual")
    assert any("须写 apply" in p for p in _lint(tmp_path, manual))
    renamed = _lint(tmp_path, GOOD, "other_name.yml")
    assert any("应与文件名 “other_name” 一致" in p for p in renamed)


def test_guides_lint_includes_policies(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["guides", "lint"])
    assert result.exit_code == 0, result.output
    from bot.guides import lint

    broken = tmp_path / "guides"
    broken.mkdir()
    _lint(broken, GOOD.replace("ge: 12", "ge: 十二"))
    assert any("wengang_fanhuan.yml" in str(p) for p in lint.lint_directory(broken))
