"""Fixtures for the guide tests: the real guides (read once per session) and small inline guides.

Reading guides/ costs a couple of seconds (pure-Python YAML with line marks), so the real catalog
is built once per session and shared; everything else works on tiny guides written to tmp_path.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis.configuration import set_hypothesis_home_dir

from bot.guides.catalog import Catalog, build_catalog
from bot.guides.schema import Guide, Licence

ROOT = Path(__file__).resolve().parents[2]
GUIDES_DIR = ROOT / "guides"

# A tiny but complete licence catalogue: one electronic licence, one paper-only.
DEMO_LICENCES: dict[str, Any] = {
    "sample_notice": "样例",
    "licences": [
        {"code": "id_card", "name": "居民身份证", "issuer": "县公安局", "electronic": True},
        {"code": "paper_cert", "name": "纸质证明", "issuer": "县某局", "electronic": False},
        {"code": "birth_cert", "name": "出生证", "issuer": "县卫健委", "electronic": True},
    ],
}


def demo_guide_data(guide_id: str = "demo") -> dict[str, Any]:
    """A small valid guide exercising every kind of condition and every kind of 免."""
    return copy.deepcopy(
        {
            "id": guide_id,
            "title": "示例演示一件事",
            "sample_notice": "样例内容",
            "summary": "用于测试的示例一件事。",
            "aliases": ["示例演示事项"],
            "keywords": [],
            "audience": "个人",
            "lead_department": "县示例局",
            "basis": ["《示例条例》"],
            "acceptance": ["示例条件"],
            "process": ["一次提交"],
            "fees": "不收费",
            "time_limit_days": 5,
            "results": ["示例结果"],
            "delivery": ["窗口领取"],
            "where": {"window": "一号窗口", "address": "示例地址", "hours": "工作日", "online": "豫事办"},
            "questions": [
                {
                    "id": "married",
                    "text": "是否已婚？",
                    "choices": [
                        {"value": "yes", "title": "已婚", "synonyms": ["是", "结了"]},
                        {"value": "no", "title": "未婚", "synonyms": ["不是", "没结"]},
                    ],
                },
                {
                    "id": "follow",
                    "text": "随父还是随母？",
                    "when": {"question": "married", "equals": "yes"},
                    "choices": [
                        {"value": "father", "title": "随父亲"},
                        {"value": "mother", "title": "随母亲"},
                    ],
                },
                {
                    "id": "local",
                    "text": "是本县户籍吗？",
                    "choices": [
                        {"value": "local", "title": "本县"},
                        {"value": "other", "title": "外县"},
                    ],
                },
            ],
            "materials": [
                {"id": "form", "name": "申请表", "form": "现场填写"},
                {"id": "id_card", "name": "身份证", "licence": "id_card"},
                {"id": "paper", "name": "纸质证明材料", "licence": "paper_cert"},
                {"id": "shared", "name": "共享核验材料", "shared_data": "示例共享平台"},
                {"id": "birth", "name": "出生证明", "licence": "birth_cert", "produced_by": "first"},
                {"id": "paper_produced", "name": "纸质产出材料", "licence": "paper_cert", "produced_by": "first"},
                {"id": "marriage", "name": "结婚证明"},
                {"id": "father_book", "name": "父亲户口簿"},
                {"id": "mother_book", "name": "母亲户口簿", "deferrable": True, "deferrable_note": "可后补"},
                {"id": "statement", "name": "非婚说明"},
            ],
            "items": [
                {
                    "id": "first",
                    "title": "第一事项",
                    "short_title": "第一",
                    "aliases": ["头一个"],
                    "department": "县甲局",
                    "materials": [{"material": "form"}, {"material": "id_card"}, {"material": "shared"}],
                },
                {
                    "id": "second",
                    "title": "第二事项",
                    "department": "县乙局",
                    "materials": [
                        {"material": "form"},
                        {"material": "id_card"},
                        {"material": "birth"},
                        {"material": "paper_produced"},
                        {"material": "paper"},
                    ],
                },
                {
                    "id": "register",
                    "title": "登记事项",
                    "department": "县丙局",
                    "when": {"question": "local", "equals": "local"},
                    "not_applicable_note": "外县户籍到户籍地办理",
                    "materials": [
                        {"material": "form"},
                        {"material": "marriage", "when": {"question": "married", "equals": "yes"}},
                        {
                            "material": "father_book",
                            "when": {
                                "all": [{"question": "married", "equals": "yes"}, {"question": "follow", "equals": "father"}]
                            },
                        },
                        {
                            "material": "mother_book",
                            "when": {
                                "any": [{"question": "married", "equals": "no"}, {"question": "follow", "equals": "mother"}]
                            },
                        },
                        {"material": "statement", "when": {"not": {"question": "married", "equals": "yes"}}},
                    ],
                },
                {
                    "id": "extra",
                    "title": "可选事项",
                    "department": "县丁局",
                    "optional": True,
                    "materials": [{"material": "form"}],
                },
            ],
        }
    )


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1000)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing needle."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not found {occurrence} times"
    return hits[occurrence - 1]


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep hypothesis' caches out of the work tree (no .hypothesis/ beside pyproject.toml)."""
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    return build_catalog(GUIDES_DIR)


@pytest.fixture(scope="session")
def newborn(real_catalog: Catalog) -> Guide:
    return real_catalog.guides["newborn"]


@pytest.fixture(scope="session")
def real_licences(real_catalog: Catalog) -> dict[str, Licence]:
    return real_catalog.licences


@pytest.fixture
def demo_data() -> dict[str, Any]:
    return demo_guide_data()


@pytest.fixture
def demo_guide(demo_data: dict[str, Any]) -> Guide:
    return Guide.model_validate(demo_data)


@pytest.fixture
def demo_licences() -> dict[str, Licence]:
    return {d["code"]: Licence.model_validate(d) for d in DEMO_LICENCES["licences"]}


@pytest.fixture
def make_guides_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write a guides/ directory: licences.yml, the real replies template and the given guides.

    Guides are dicts (written as YAML) or raw text, keyed by file stem.
    """

    def make(guides: dict[str, dict[str, Any] | str], licences: dict[str, Any] | None = None, name: str = "guides") -> Path:
        directory = tmp_path / name
        (directory / "templates").mkdir(parents=True, exist_ok=True)
        shutil.copy(GUIDES_DIR / "templates" / "replies.yml", directory / "templates" / "replies.yml")
        (directory / "licences.yml").write_text(dump_yaml(licences or DEMO_LICENCES), encoding="utf-8")
        for stem, content in guides.items():
            text = content if isinstance(content, str) else dump_yaml(content)
            (directory / f"{stem}.yml").write_text(text, encoding="utf-8")
        return directory

    return make


@pytest.fixture
def to_yaml() -> Callable[[Any], str]:
    return dump_yaml


@pytest.fixture
def find_line() -> Callable[..., int]:
    return line_of
