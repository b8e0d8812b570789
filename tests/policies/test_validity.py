"""A policy's window told to staff: ended, ending within a month, or not yet begun; in the lint (with
its line) and the CLI (--as-of). The editor's pages: tests/admin/test_guide_editor_policy_windows.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.policies.catalog import lint_policies
from bot.policies.validity import validity
from tests.policies.conftest import GUIDES

WENGANG = GUIDES / "policies" / "wengang_fanhuan.yml"  # valid 2026-01-01 .. 2026-12-31
GOOD = WENGANG.read_text(encoding="utf-8")


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.startswith(fragment))


@pytest.mark.parametrize(("today", "state", "days_left", "tag"), [
    (date(2025, 12, 31), "pending", 365, "未生效"),
    (date(2026, 1, 1), "in_force", 364, ""),
    (date(2026, 11, 30), "in_force", 31, ""),
    (date(2026, 12, 1), "ending", 30, "30 天后到期"),
    (date(2026, 12, 30), "ending", 1, "1 天后到期"),
    (date(2026, 12, 31), "ending", 0, "今天到期"),
    (date(2027, 1, 1), "ended", -1, "已到期"),
])
def test_the_window_on_a_day(today: date, state: str, days_left: int, tag: str) -> None:
    v = validity(date(2026, 1, 1), date(2026, 12, 31), today)
    assert (v.state, v.days_left, v.tag) == (state, days_left, tag)
    assert bool(v.css) == bool(tag)  # a tag shown is a tag coloured


def _lint(tmp_path: Path, text: str, today: date) -> list[str]:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "wengang_fanhuan.yml").write_text(text, encoding="utf-8")
    return [str(p) for p in lint_policies(tmp_path, today)]


def test_lint_reminds_a_month_ahead_at_the_line_of_valid_until(tmp_path: Path) -> None:
    line = _line(GOOD, "valid_until:")
    assert _lint(tmp_path, GOOD, date(2026, 11, 30)) == []
    assert _lint(tmp_path, GOOD, date(2026, 12, 8)) == [
        f"guides/policies/wengang_fanhuan.yml:{line}: 提醒：政策将于 2026-12-31 到期（23 天后），"
        "到期后不再匹配和推送；如将延续，请及时更新 valid_until"
    ]
    assert _lint(tmp_path, GOOD, date(2027, 1, 1)) == [
        f"guides/policies/wengang_fanhuan.yml:{line}: 提醒：政策已于 2026-12-31 到期，不再匹配和推送；"
        "如已延续，请更新 valid_until"
    ]
    renewed = GOOD.replace("valid_until: 2026-12-31", "valid_until: 2027-12-31")
    assert _lint(tmp_path, renewed, date(2027, 1, 1)) == []


def test_lint_says_when_a_window_has_not_begun(tmp_path: Path) -> None:
    later = GOOD.replace("valid_from: 2026-01-01", "valid_from: 2027-01-01").replace(
        "valid_until: 2026-12-31", "valid_until: 2027-12-31")
    assert _lint(tmp_path, later, date(2026, 12, 8)) == [
        f"guides/policies/wengang_fanhuan.yml:{_line(later, 'valid_from:')}: 提醒：政策自 2027-01-01 起生效，此前不匹配、不推送"
    ]


def test_the_shipped_policies_ending_this_year_are_named_and_the_lint_still_passes() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["guides", "lint", "--as-of", "2027-01-02"])
    assert result.exit_code == 0, result.output  # reminders, not errors: CI and staff are told, nothing breaks
    ended = {p.name for p in (GUIDES / "policies").glob("*.yml")
             if "valid_until: 2026-12-31" in p.read_text(encoding="utf-8")}
    assert "wengang_fanhuan.yml" in ended and "geti_zhongdian_qunti.yml" not in ended
    for name in ended:
        assert f"guides/policies/{name}:" in result.output and "已于 2026-12-31 到期" in result.output
    assert "geti_zhongdian_qunti.yml" not in result.output  # in force until 2027-12-31
    assert result.output.count("已于 2026-12-31 到期") == len(ended)


def test_the_lint_refuses_a_day_it_cannot_read() -> None:
    result = CliRunner().invoke(cli, ["guides", "lint", "--as-of", "明年元旦"])
    assert result.exit_code == 2
    assert "日期格式不对：明年元旦（应为 YYYY-MM-DD）" in result.output
