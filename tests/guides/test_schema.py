"""The pydantic schema of a guide: the real content validates, sloppy staff edits are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.guides.schema import AllOf, AnswerIs, AnyOf, Guide, LicenceCatalog, NotOf

GUIDES_DIR = Path(__file__).resolve().parents[2] / "guides"
GUIDE_FILES = sorted(p for p in GUIDES_DIR.glob("*.yml") if p.name != "licences.yml")


def _read(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_there_are_21_real_guides() -> None:
    assert len(GUIDE_FILES) == 21, [p.name for p in GUIDE_FILES]


@pytest.mark.parametrize("path", GUIDE_FILES, ids=lambda p: p.stem)
def test_real_guide_validates(path: Path) -> None:
    guide = Guide.model_validate(_read(path))
    assert guide.id == path.stem
    assert guide.title.endswith("一件事")


def test_real_licences_validate() -> None:
    catalog = LicenceCatalog.model_validate(_read(GUIDES_DIR / "licences.yml"))
    codes = [lic.code for lic in catalog.licences]
    assert len(codes) == len(set(codes))


def test_demo_guide_validates(demo_data: dict[str, Any]) -> None:
    guide = Guide.model_validate(demo_data)
    assert guide.item("register") is not None and guide.material("paper") is not None
    assert guide.question("follow") is not None and guide.question("nope") is None


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(e["loc"]), e["type"]) for e in exc.value.errors()]


def test_unknown_top_level_key_is_rejected(demo_data: dict[str, Any]) -> None:
    demo_data["titel"] = "拼错的字段"
    with pytest.raises(ValidationError) as exc:
        Guide.model_validate(demo_data)
    assert (("titel",), "extra_forbidden") in _errors(exc)


def test_unknown_nested_key_is_rejected(demo_data: dict[str, Any]) -> None:
    demo_data["items"][1]["materials"][0]["optinal"] = True
    with pytest.raises(ValidationError) as exc:
        Guide.model_validate(demo_data)
    assert (("items", 1, "materials", 0, "optinal"), "extra_forbidden") in _errors(exc)


def test_yaml_boolean_choice_value_is_rejected(demo_data: dict[str, Any]) -> None:
    # `value: yes` unquoted is the YAML 1.1 boolean true, not the slug "yes".
    text = yaml.safe_dump(demo_data, allow_unicode=True, sort_keys=False).replace("value: 'yes'", "value: yes")
    data = yaml.safe_load(text)
    assert data["questions"][0]["choices"][0]["value"] is True
    with pytest.raises(ValidationError) as exc:
        Guide.model_validate(data)
    locs = [loc for loc, _ in _errors(exc)]
    assert ("questions", 0, "choices", 0, "value") in locs


def test_answer_is_with_both_equals_and_in_is_rejected(demo_data: dict[str, Any]) -> None:
    demo_data["items"][2]["when"] = {"question": "local", "equals": "local", "in": ["local", "other"]}
    with pytest.raises(ValidationError) as exc:
        Guide.model_validate(demo_data)
    assert any("equals 或 in" in e["msg"] for e in exc.value.errors())


def test_answer_is_with_neither_equals_nor_in_is_rejected() -> None:
    with pytest.raises(ValidationError):
        AnswerIs.model_validate({"question": "local"})


def test_answer_is_in_alias_and_values() -> None:
    cond = AnswerIs.model_validate({"question": "q", "in": ["a", "b"]})
    assert cond.values() == ["a", "b"]
    assert AnswerIs.model_validate({"question": "q", "equals": "a"}).values() == ["a"]


def test_condition_trees_parse_into_their_types(demo_guide: Guide) -> None:
    register = demo_guide.item("register")
    assert register is not None
    whens = [ref.when for ref in register.materials]
    assert whens[0] is None
    assert isinstance(whens[1], AnswerIs)
    assert isinstance(whens[2], AllOf)
    assert isinstance(whens[3], AnyOf)
    assert isinstance(whens[4], NotOf) and isinstance(whens[4].not_, AnswerIs)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda d: d["questions"][0]["choices"].pop(), ("questions", 0, "choices")),  # fewer than 2 choices
        (lambda d: d.__setitem__("id", "Demo-Guide"), ("id",)),  # not a slug
        (lambda d: d.__setitem__("audience", "外星人"), ("audience",)),
        (lambda d: d["materials"][0].__setitem__("form", "传真"), ("materials", 0, "form")),
        (lambda d: d["materials"][0].__setitem__("copies", 99), ("materials", 0, "copies")),
        (lambda d: d.__setitem__("aliases", []), ("aliases",)),
        (lambda d: d.__setitem__("items", []), ("items",)),
        (lambda d: d["where"].pop("window"), ("where", "window")),
        (lambda d: d.__setitem__("summary", "   "), ("summary",)),  # whitespace only after strip
    ],
)
def test_invalid_fields_are_rejected(demo_data: dict[str, Any], mutate: Any, loc: tuple[Any, ...]) -> None:
    mutate(demo_data)
    with pytest.raises(ValidationError) as exc:
        Guide.model_validate(demo_data)
    assert loc in [loc for loc, _ in _errors(exc)]


def test_guide_is_frozen(demo_guide: Guide) -> None:
    with pytest.raises(ValidationError):
        demo_guide.title = "改了"  # type: ignore[misc]
