"""`python -m bot enterprises generate|import` and `python -m bot policies match` on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli


def test_generate_import_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    data = tmp_path / "e.csv"
    assert runner.invoke(cli, ["enterprises", "generate", "200", "--out", str(data)]).exit_code == 0
    with data.open("a", encoding="utf-8") as out:
        out.write("91410100MA44ABCD0X,坏代码有限公司" + "," * 25 + "\n")
    imported = runner.invoke(cli, ["enterprises", "import", str(data)])
    assert imported.exit_code == 2, imported.output  # some rows were rejected
    assert "共 201 条：新增 200，更新 0，未变 0，拒绝 1" in imported.output
    assert "第 202 行（91410100MA44ABCD0X）：统一社会信用代码" in imported.output
    first = runner.invoke(cli, ["policies", "match", "--as-of", "2026-11-22"])
    assert first.exit_code == 0, first.output
    assert "wengang_fanhuan" in first.output and "匹配完成（第 1 次，2026-11-22）" in first.output
    second = runner.invoke(cli, ["policies", "match", "--as-of", "2026-11-22"])
    assert "新增匹配 0" in second.output
    bad = runner.invoke(cli, ["policies", "match", "--as-of", "22/11/2026"])
    assert bad.exit_code == 2
