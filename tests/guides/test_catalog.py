"""CatalogStore: guides added or edited on disk are served without a restart or a retraining."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.guides.catalog import CatalogStore, build_catalog

ROOT = Path(__file__).resolve().parents[2]
GUIDES_DIR = ROOT / "guides"


def _demo_for_real_licences(demo: dict[str, Any], guide_id: str, aliases: list[str]) -> dict[str, Any]:
    """The demo guide, its licence codes swapped for codes of the real licences.yml."""
    codes = {"paper_cert": "passport", "birth_cert": "birth_medical_cert"}
    materials = [{**m, "licence": codes.get(m["licence"], m["licence"])} if "licence" in m else m for m in demo["materials"]]
    return {**demo, "id": guide_id, "title": f"{guide_id}演示一件事", "aliases": aliases, "materials": materials}


@pytest.fixture
def guides_dir(tmp_path: Path, demo_data: dict[str, Any], to_yaml: Any) -> Path:
    """A guides/ directory with the real licences and replies and one small guide (shop: 开个小店)."""
    directory = tmp_path / "guides"
    (directory / "templates").mkdir(parents=True)
    shutil.copy(GUIDES_DIR / "templates" / "replies.yml", directory / "templates" / "replies.yml")
    shutil.copy(GUIDES_DIR / "licences.yml", directory / "licences.yml")
    shop = _demo_for_real_licences(demo_data, "shop", ["开个小店"])
    (directory / "shop.yml").write_text(to_yaml(shop), encoding="utf-8")
    return directory


@pytest.fixture
def small_guide(demo_data: dict[str, Any], to_yaml: Any) -> Any:
    """Write another small valid guide into a directory: small_guide(directory, guide_id, aliases)."""

    def write(directory: Path, guide_id: str, aliases: list[str]) -> Path:
        path = directory / f"{guide_id}.yml"
        path.write_text(to_yaml(_demo_for_real_licences(demo_data, guide_id, aliases)), encoding="utf-8")
        return path

    return write


def test_store_serves_the_directory(guides_dir: Path) -> None:
    store = CatalogStore(guides_dir, check_interval=0)
    catalog = store.get()
    assert list(catalog.guides) == ["shop"]
    assert catalog.problems == ()
    assert catalog.version and len(catalog.version) == 12
    assert store.get() is catalog  # nothing changed: the same snapshot


def test_new_guide_file_is_picked_up_and_findable_by_alias(guides_dir: Path) -> None:
    store = CatalogStore(guides_dir, check_interval=0)
    before = store.get()
    assert "newborn" not in before.guides
    assert before.matcher.identify("宝宝出生").outcome == "none"

    shutil.copy(GUIDES_DIR / "newborn.yml", guides_dir / "newborn.yml")
    after = store.get()
    assert set(after.guides) == {"shop", "newborn"}
    assert after.version != before.version
    result = after.matcher.identify("宝宝出生")  # an alias: no retraining needed
    assert result.outcome == "found" and result.best is not None and result.best.guide_id == "newborn"


def test_broken_file_is_left_out_and_the_others_keep_working(guides_dir: Path, small_guide: Any) -> None:
    store = CatalogStore(guides_dir, check_interval=0)
    small_guide(guides_dir, "pets", ["养狗登记"])
    (guides_dir / "broken.yml").write_text("id: broken\ntitle: [未闭合\n", encoding="utf-8")
    bad = small_guide(guides_dir, "bad", ["坏掉的事项"])
    bad.write_text(bad.read_text(encoding="utf-8") + "unknown_key: 1\n", encoding="utf-8")  # schema error
    catalog = store.get()
    assert set(catalog.guides) == {"shop", "pets"}
    assert {p.file for p in catalog.problems if p.severity == "错误"} == {"guides/broken.yml", "guides/bad.yml"}
    assert catalog.matcher.identify("开个小店").best.guide_id == "shop"  # type: ignore[union-attr]
    assert catalog.matcher.identify("养狗登记").best.guide_id == "pets"  # type: ignore[union-attr]
    assert catalog.matcher.identify("坏掉的事项").outcome == "none"  # the broken guide is not offered

    (guides_dir / "broken.yml").unlink()  # fixed by removing it
    assert "guides/broken.yml" not in {p.file for p in store.get().problems}


def test_guide_failing_lint_is_left_out(guides_dir: Path, small_guide: Any) -> None:
    path = small_guide(guides_dir, "pets", ["养狗登记"])
    path.write_text(path.read_text(encoding="utf-8").replace("licence: id_card", "licence: no_such_licence"), encoding="utf-8")
    catalog = build_catalog(guides_dir)
    assert set(catalog.guides) == {"shop"}
    assert [p.file for p in catalog.problems] == ["guides/pets.yml"]


def test_alias_clash_keeps_both_guides(guides_dir: Path, small_guide: Any) -> None:
    small_guide(guides_dir, "pets", ["养狗登记", "开个小店"])  # 开个小店 is an alias of shop too
    catalog = build_catalog(guides_dir)
    assert set(catalog.guides) == {"shop", "pets"}
    assert {p.file for p in catalog.problems} == {"guides/shop.yml", "guides/pets.yml"}


def test_edit_in_place_is_picked_up(guides_dir: Path, small_guide: Any) -> None:
    store = CatalogStore(guides_dir, check_interval=0)
    assert store.get().guides["shop"].aliases == ["开个小店"]
    small_guide(guides_dir, "shop", ["开个小店", "新加的说法"])
    catalog = store.get()
    assert catalog.guides["shop"].aliases == ["开个小店", "新加的说法"]
    assert catalog.matcher.identify("新加的说法").best.guide_id == "shop"  # type: ignore[union-attr]


def test_changes_wait_for_the_check_interval(guides_dir: Path, small_guide: Any) -> None:
    store = CatalogStore(guides_dir, check_interval=3600)
    before = store.get()
    small_guide(guides_dir, "pets", ["养狗登记"])
    assert store.get() is before  # not looked at again within the interval
    store.check_interval = 0
    assert "pets" in store.get().guides


def test_failed_reload_keeps_the_last_good_snapshot(guides_dir: Path, small_guide: Any) -> None:
    store = CatalogStore(guides_dir, check_interval=0)
    good = store.get()
    (guides_dir / "templates" / "replies.yml").write_text("replies: [这不是映射]\n", encoding="utf-8")
    small_guide(guides_dir, "pets", ["养狗登记"])
    assert store.get() is good  # build_catalog raised: keep serving what worked
    shutil.copy(GUIDES_DIR / "templates" / "replies.yml", guides_dir / "templates" / "replies.yml")
    assert "pets" in store.get().guides


def test_featured_falls_back_to_the_first_guides(guides_dir: Path) -> None:
    catalog = build_catalog(guides_dir)
    # replies.yml features newborn, school_enrollment, retirement, open_restaurant: none of them is here.
    assert [g.id for g in catalog.featured()] == ["shop"]
    assert catalog.guide(None) is None and catalog.guide("nope") is None


def test_an_alias_claimed_twice_is_reported_but_both_guides_keep_working(guides_dir: Path, small_guide: Any) -> None:
    small_guide(guides_dir, "kiosk", ["开个小店"])  # the same alias as “shop”
    catalog = build_catalog(guides_dir)
    assert {"shop", "kiosk"} <= set(catalog.guides)
    clash = [p for p in catalog.problems if "开个小店" in p.message]
    assert clash and all(p.severity == "错误" and not p.blocks_loading for p in clash)
