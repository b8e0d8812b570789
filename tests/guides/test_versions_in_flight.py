"""A guide published while a conversation is half-way through it: the conversation moves over to the
new version cleanly (bot.guides.dialogue.reconcile), and every process picks the version up."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.channels import messages as m
from bot.guides.catalog import CatalogStore, build_catalog
from bot.guides.dialogue import FlowState, GuideDialogue
from bot.guides.editing import write_back

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "guides"
NEWBORN = GUIDES / "newborn.yml"


def _newborn_v2() -> str:
    """A new version: 户口随谁 is no longer asked (one 户口簿 either way), the insurance answers are
    renamed, and 预防接种证 is gone."""
    text = NEWBORN.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["questions"] = [q for q in data["questions"] if q["id"] != "hukou_follow"]
    for q in data["questions"]:
        if q["id"] == "insured_parent":
            for c in q["choices"]:
                c["value"] = {"insured": "yes", "uninsured": "no"}[c["value"]]
    for item in data["items"]:
        for ref in item.get("materials") or []:
            ref.pop("when", None) if "hukou_follow" in str(ref.get("when")) else None
            if isinstance(ref.get("when"), dict) and "insured" in str(ref["when"]):
                ref["when"] = {"question": "insured_parent", "equals": "yes"}
        if isinstance(item.get("when"), dict) and "insured" in str(item["when"]):
            item["when"] = {"question": "insured_parent", "equals": "yes"}
    data["items"] = [i for i in data["items"] if "vaccin" not in i["id"]]
    return write_back(text, data)


def test_a_conversation_in_progress_moves_over_to_the_new_version() -> None:
    v1 = build_catalog(GUIDES)
    v2 = build_catalog(GUIDES, {"newborn.yml": _newborn_v2()}, marker=7)
    assert "newborn" in v2.guides, [str(p) for p in v2.problems if "newborn" in p.file]
    old_items = [i.id for i in v1.guides["newborn"].items]
    vaccine = next(i for i in old_items if "vaccin" in i)
    state = FlowState(
        guide_id="newborn", guide_items=old_items,
        answers={"married": "married", "hukou_follow": "father", "insured_parent": "insured"},
        pending_question="local_hukou",
    )
    # The citizen answers the pending question after the publish: the turn runs on version 2.
    reply = GuideDialogue(v2).question_interpret(state, "是本县户籍", None, None)
    answers = reply.slots["answers"]
    assert answers == {"married": "married", "local_hukou": "local"}  # dropped: a removed question, a renamed answer
    following = FlowState(guide_id="newborn", guide_items=old_items, answers=answers)
    prompt = GuideDialogue(v2).question_prompt(following)
    assert prompt.slots["pending_question"] == "insured_parent"  # asked again, with the new choices
    choices = next(x for x in prompt.messages if isinstance(x, m.ChoicesMessage)).choices
    assert [c.payload for c in choices] == ['/choose{"choice": "yes"}', '/choose{"choice": "no"}']

    done = FlowState(guide_id="newborn", guide_items=old_items, answers={**answers, "insured_parent": "yes"})
    card = GuideDialogue(v2).checklist_message(done)
    assert card is not None
    assert vaccine not in [i.id for i in card.items]  # the removed sub-item is not in the notice
    assert [a.question for a in card.answers] == [q.text for q in v2.guides["newborn"].questions if q.id in done.answers]


def test_every_store_picks_up_a_publish_at_its_next_check() -> None:
    class Source:
        def __init__(self) -> None:
            self.published: dict[str, str] = {}
            self.number: int | None = None

        def marker(self) -> int | None:
            return self.number

        def documents(self) -> tuple[int | None, dict[str, str]]:
            return self.number, dict(self.published)

    source = Source()
    stores = [CatalogStore(GUIDES, 0.0, source), CatalogStore(GUIDES, 0.0, source)]  # two processes
    assert all("hukou_follow" in [q.id for q in s.get().guides["newborn"].questions] for s in stores)
    source.published, source.number = {"newborn.yml": _newborn_v2()}, 1
    for store in stores:
        catalog = store.get()
        assert catalog.marker == 1 and catalog.version.endswith(".1")
        assert "hukou_follow" not in [q.id for q in catalog.guides["newborn"].questions]


def test_a_published_version_that_does_not_load_leaves_the_guide_out_not_the_others() -> None:
    broken = NEWBORN.read_text(encoding="utf-8").replace("time_limit_days: 5\n", "time_limit_days: many\n", 1)
    catalog = build_catalog(GUIDES, {"newborn.yml": broken}, marker=3)
    assert "newborn" not in catalog.guides and "retirement" in catalog.guides
