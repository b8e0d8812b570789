"""The browser editor's model: YAML -> editor model (the forms' values) -> YAML loses nothing."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from bot.guides import editing
from bot.guides.loader import load_guide_bytes
from tests.guides.editor_forms import submitted

ROOT = Path(__file__).resolve().parents[2]
GUIDE_FILES = sorted(p for p in (ROOT / "guides").glob("*.yml") if p.name != "licences.yml")
ALL_FILES = [*GUIDE_FILES, ROOT / "guides" / "licences.yml", ROOT / "guides" / "templates" / "replies.yml"]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_unchanged_data_writes_back_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert editing.write_back(text, yaml.safe_load(text)) == text


@pytest.mark.parametrize("path", GUIDE_FILES, ids=lambda p: p.stem)
def test_every_form_submitted_unchanged_changes_nothing(path: Path) -> None:
    """Each section's form filled from the file and sent back as it is: the same text."""
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    outcome = editing.apply_basic(data, submitted(editing.basic_values(data)), may_change_department=True)
    assert outcome.errors == {}
    data = outcome.data
    for section, values_of, apply in (
        ("materials", lambda g, e: editing.material_values(e), lambda g, e, f: editing.apply_material(e, f)),
        ("questions", lambda g, e: editing.question_values(e), editing.apply_question),
        ("items", editing.item_values, editing.apply_item),
    ):
        for entry in list(data.get(section) or []):
            outcome = apply(data, entry, submitted(values_of(data, entry)))
            assert outcome.errors == {}, (section, entry["id"])
            data = editing.replace_entry(data, section, entry["id"], outcome.data)
    assert data == yaml.safe_load(text)
    assert editing.write_back(text, data) == text


def test_an_edit_changes_only_its_lines_and_keeps_comments() -> None:
    path = ROOT / "guides" / "newborn.yml"
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    i = editing.entry_index(data, "materials", "childbirth_record")
    assert i is not None
    values = editing.material_values(data["materials"][i])
    form = submitted(values).set("shared_data", "").set("deferrable", "1").set("deferrable_note", "可承诺后补")
    outcome = editing.apply_material(data["materials"][i], form)
    assert outcome.errors == {}
    new_text = editing.write_back(text, editing.replace_entry(data, "materials", "childbirth_record", outcome.data))
    assert new_text.startswith("# 新生儿出生一件事 —— 样例内容\n")  # the header comment stays
    diff = list(difflib.unified_diff(text.splitlines(), new_text.splitlines(), lineterm="", n=0))[2:]
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:] for line in diff if line.startswith("+")]
    assert removed == ["    shared_data: 全民健康信息平台 分娩记录"]
    assert added == ["    deferrable: true", "    deferrable_note: 可承诺后补"]
    guide, _ = load_guide_bytes(new_text.encode(), path)
    material = guide.material("childbirth_record")
    assert material is not None and material.shared_data is None and material.deferrable


def test_conditions_as_rows_round_trip() -> None:
    for cond in (
        None,
        {"question": "a", "equals": "x"},
        {"question": "a", "in": ["x", "y"]},
        {"not": {"question": "a", "equals": "x"}},
        {"all": [{"question": "a", "equals": "x"}, {"not": {"question": "b", "equals": "y"}}]},
        {"any": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]},
    ):
        rows = editing.condition_rows(cond)
        assert not rows.complex
        assert editing.condition_from_rows(rows.mode, list(rows.rows)) == cond
    nested = {"all": [{"any": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}]}
    assert editing.condition_rows(nested).complex


def test_new_ids_from_chinese_names() -> None:
    assert editing.make_id("结婚证", []) == "jie_hun_zheng"
    assert editing.make_id("结婚证", ["jie_hun_zheng"]) == "jie_hun_zheng_2"
    assert editing.make_id("123", [], "material") == "material_123"
    assert editing.make_id("《》", [], "material") == "material"


def test_new_strings_that_yaml_1_1_would_read_otherwise_are_quoted() -> None:
    text = "a: x\nlist: [p]\n"
    tricky = ["yes", "No", "on", "off", "012", "1:30", "2024-01-01", "null", "~", "1e3", "true"]
    out = editing.write_back(text, {"a": "yes", "list": tricky, "new": {"value": "off"}})
    assert yaml.safe_load(out) == {"a": "yes", "list": tricky, "new": {"value": "off"}}
