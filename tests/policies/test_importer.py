"""Importing the shared-data export: bad rows rejected with their reasons, the good ones upserted,
and a second import of the same file changes nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bot.policies.generator import write_file
from bot.policies.importer import ImportFileError, import_file
from bot.policies.models import Enterprise, EnterpriseList
from tests.policies.conftest import TODAY

GOOD = "91410100MA44ABCD0"
HEADER = "统一社会信用代码,名称,市场主体类型,企业规模,参保人数,上年度裁员率,成立日期,列入严重失信主体名单,所在名单\n"


def _code(n: int) -> str:
    from bot.policies.uscc import with_check_digit

    return with_check_digit(f"9141010{n:010d}")


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_bad_rows_are_rejected_with_reasons_and_good_rows_stored(engine: Engine, tmp_path: Path) -> None:
    bad_check = _code(2)[:17] + ("0" if _code(2)[17] != "0" else "1")
    rows = [
        f"{_code(1)},河南甲有限公司,有限责任公司,小型,25,3.5,2019-05-01,否,henan_srdi_2026\n",
        f"{bad_check},河南乙有限公司,有限责任公司,小型,25,3.5,2019-05-01,否,\n",
        f"{_code(3)},河南丙有限公司,合资公司,特大型,-4,abc,2030-01-01,也许,\n",
        f"{_code(1)},河南甲有限公司（重复）,有限责任公司,小型,25,3.5,2019-05-01,否,\n",
        f"{_code(4)},,个体工商户,微型,1,0,2024/3/1,否,\n",
        f"{_code(5)},郑州某某便利店,个体工商户,微型,1,0,20240301,是\n",
        f"{_code(6)},郑州某某饭店,个体工商户,微型,2,1.234,2024年3月1日,否,\n",
    ]
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8-sig")
    report = import_file(engine, path, today=TODAY)
    reasons = {r.row: str(r) for r in report.rejected}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "校验位不对" in reasons[3]
    assert all(w in reasons[4] for w in ("市场主体类型", "企业规模", "参保人数", "上年度裁员率", "成立日期", "晚于今天", "是/否"))
    assert "与第 2 行的统一社会信用代码重复" in reasons[5]
    assert "缺少名称" in reasons[6]
    assert "列" in reasons[7]  # one column short
    assert report.inserted == 2 and report.updated == 0
    with engine.connect() as conn:
        table = Enterprise.__table__
        rate = conn.execute(select(table.c.layoff_rate).where(table.c.uscc == _code(6))).scalar_one()
        lists = conn.execute(select(EnterpriseList.__table__.c.list_code)).scalars().all()
    assert rate == Decimal("1.23")  # to the cent
    assert lists == ["henan_srdi_2026"]


def test_reimport_is_idempotent_and_updates_only_what_changed(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    write_file(path, 300, seed=3, today=TODAY)
    first = import_file(engine, path, today=TODAY)
    assert (first.inserted, first.rejected) == (300, [])
    again = import_file(engine, path, today=TODAY)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 300)
    text = path.read_text(encoding="utf-8-sig").splitlines()
    header, row = text[0].split(","), text[1].split(",")
    row[header.index("参保人数")] = "77"
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join([text[0], ",".join(row)]) + "\n", encoding="utf-8-sig")
    third = import_file(engine, changed, today=TODAY)
    assert (third.inserted, third.updated) == (0, 1)
    assert _count(engine, Enterprise) == 300


def test_json_and_jsonl(engine: Engine, tmp_path: Path) -> None:
    records = [{"uscc": _code(10), "name": "河南丁有限公司", "insured_count": 12, "dishonest": False, "lists": ["x_list"]},
               {"统一社会信用代码": _code(11), "名称": "河南戊有限公司", "企业规模": "中型"},
               {"uscc": "123", "name": "坏"}]
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"enterprises": records}, ensure_ascii=False), encoding="utf-8")
    report = import_file(engine, path, today=TODAY)
    assert report.inserted == 2 and len(report.rejected) == 1 and "18位" in str(report.rejected[0])
    lines = tmp_path / "e.jsonl"
    write_file(lines, 20, seed=5, today=TODAY)
    assert import_file(engine, lines, today=TODAY).inserted == 20


def test_unknown_columns_stop_the_import(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("统一社会信用代码,名称,参保人数量\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="参保人数量"):
        import_file(engine, path, today=TODAY)
    assert _count(engine, Enterprise) == 0
