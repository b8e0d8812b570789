"""Fixtures for the channel tests: the real WeChat templates and a real 一次告知 from guides/."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from bot.channels import messages as m
from bot.channels.wechat.render import WeChatRenderer
from bot.guides.catalog import Catalog, build_catalog
from bot.guides.dialogue import FlowState, GuideDialogue

ROOT = Path(__file__).resolve().parents[2]
GUIDES_DIR = ROOT / "guides"
WECHAT_TEMPLATES = GUIDES_DIR / "templates" / "wechat"
PUBLIC_BASE_URL = "https://ysb.example.gov.cn/yishiban/"

# One answer per newborn question: married, so the 免 of the shared licences and one 容缺 both show.
NEWBORN_ANSWERS = {"married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "insured"}


# Keep hypothesis' caches out of the work tree (no .hypothesis/ beside pyproject.toml). Set on import,
# not in a fixture: hypothesis' pytest plugin writes its constants cache while collecting a module
# with a property test, before any fixture runs.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "yishiban-hypothesis")


@pytest.fixture
def renderer() -> WeChatRenderer:
    return WeChatRenderer(WECHAT_TEMPLATES, PUBLIC_BASE_URL)


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    return build_catalog(GUIDES_DIR)


@pytest.fixture(scope="session")
def newborn_turn(real_catalog: Catalog) -> list[m.Message]:
    """The turn that sends the newborn 一次告知 with every sub-item, as GuideDialogue builds it from guides/."""
    newborn = real_catalog.guides["newborn"]
    state = FlowState(guide_id="newborn", guide_items=[i.id for i in newborn.items], answers=NEWBORN_ANSWERS)
    return GuideDialogue(real_catalog).checklist(state).messages


@pytest.fixture(scope="session")
def newborn_checklist(newborn_turn: list[m.Message]) -> m.ChecklistMessage:
    checklist = newborn_turn[0]
    assert isinstance(checklist, m.ChecklistMessage)
    return checklist
