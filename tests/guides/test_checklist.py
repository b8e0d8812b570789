"""conditions.py (three-valued logic) and checklist.py (questions that matter, the merged 一次告知)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bot.guides.catalog import Catalog
from bot.guides.checklist import (
    build_checklist,
    chosen_items,
    default_items,
    exemption,
    next_question,
)
from bot.guides.conditions import comparisons, evaluate, questions_in
from bot.guides.schema import AnswerIs, Condition, Guide, Licence

# --- three-valued conditions ----------------------------------------------------------------


_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def cond(data: dict[str, Any]) -> Condition:
    """Parse a condition the way a guide file does."""
    return _CONDITION.validate_python(data)


A = {"question": "a", "equals": "x"}  # a == x
B = {"question": "b", "equals": "y"}  # b == y


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        (A, {}, None),
        (A, {"a": "x"}, True),
        (A, {"a": "z"}, False),
        (A, {"b": "y"}, None),  # another question answered does not decide it
        ({"question": "a", "in": ["x", "w"]}, {"a": "w"}, True),
        ({"question": "a", "in": ["x", "w"]}, {"a": "z"}, False),
        ({"question": "a", "in": ["x", "w"]}, {}, None),
        # all: False dominates, then unknown
        ({"all": [A, B]}, {}, None),
        ({"all": [A, B]}, {"a": "x"}, None),
        ({"all": [A, B]}, {"a": "z"}, False),  # decided although b is unknown
        ({"all": [A, B]}, {"b": "n"}, False),
        ({"all": [A, B]}, {"a": "x", "b": "y"}, True),
        # any: True dominates, then unknown
        ({"any": [A, B]}, {}, None),
        ({"any": [A, B]}, {"a": "x"}, True),  # decided although b is unknown
        ({"any": [A, B]}, {"a": "z"}, None),
        ({"any": [A, B]}, {"a": "z", "b": "n"}, False),
        # not: unknown stays unknown
        ({"not": A}, {}, None),
        ({"not": A}, {"a": "x"}, False),
        ({"not": A}, {"a": "z"}, True),
        # nesting
        ({"not": {"all": [A, B]}}, {"a": "z"}, True),
        ({"not": {"any": [A, B]}}, {"a": "z"}, None),
        ({"all": [{"any": [A, B]}, {"not": B}]}, {"a": "x", "b": "n"}, True),
        ({"all": [{"any": [A, B]}, {"not": B}]}, {"b": "y"}, False),
    ],
)
def test_evaluate_three_valued(condition: dict[str, Any], answers: dict[str, str], expected: bool | None) -> None:
    assert evaluate(cond(condition), answers) is expected


def test_no_condition_always_holds() -> None:
    assert evaluate(None, {}) is True


def test_comparisons_and_questions_in() -> None:
    tree = cond({"all": [A, {"any": [B, {"not": A}]}, {"question": "c", "in": ["p"]}]})
    assert [c.question for c in comparisons(tree)] == ["a", "b", "a", "c"]
    assert questions_in(tree) == ["a", "b", "c"]  # each once, in order
    assert questions_in(None) == []
    assert isinstance(next(iter(comparisons(tree))), AnswerIs)


# --- next_question on the real newborn guide -------------------------------------------------


def _drive(guide: Guide, items: list[str], choose: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """Answer next_question until None with the given answers; the questions asked, in order."""
    answers: dict[str, str] = {}
    asked: list[str] = []
    while (question := next_question(guide, items, answers)) is not None:
        assert question.id not in answers
        asked.append(question.id)
        answers[question.id] = choose[question.id]
        assert len(asked) <= len(guide.questions)
    return asked, answers


def test_newborn_data_is_what_these_tests_assume(newborn: Guide) -> None:
    assert [q.id for q in newborn.questions] == ["married", "hukou_follow", "local_hukou", "insured_parent"]
    ss_card = newborn.item("social_security_card")
    assert ss_card is not None and ss_card.when is None and all(r.when is None for r in ss_card.materials)


def test_only_social_security_card_asks_no_question(newborn: Guide) -> None:
    assert next_question(newborn, ["social_security_card"], {}) is None


def test_items_without_conditions_ask_nothing(newborn: Guide) -> None:
    assert next_question(newborn, ["birth_certificate", "vaccination", "medical_insurance"], {}) is None


def test_hukou_registration_asks_marriage_first(newborn: Guide) -> None:
    question = next_question(newborn, ["hukou_registration"], {})
    assert question is not None and question.id == "married"


def test_married_then_asks_which_parent(newborn: Guide) -> None:
    question = next_question(newborn, ["hukou_registration"], {"married": "married"})
    assert question is not None and question.id == "hukou_follow"


def test_unmarried_never_asks_which_parent(newborn: Guide) -> None:
    choose = {"married": "unmarried", "local_hukou": "local", "insured_parent": "insured", "hukou_follow": "father"}
    for items in (["hukou_registration"], default_items(newborn), [i.id for i in newborn.items]):
        asked, _ = _drive(newborn, items, choose)
        assert "hukou_follow" not in asked
        assert asked[0] == "married"


def test_full_newborn_flow_asks_in_guide_order(newborn: Guide) -> None:
    choose = {"married": "married", "hukou_follow": "mother", "local_hukou": "local", "insured_parent": "insured"}
    asked, _ = _drive(newborn, default_items(newborn), choose)
    assert asked == ["married", "hukou_follow", "local_hukou", "insured_parent"]


def test_reimbursement_alone_asks_only_insurance(newborn: Guide) -> None:
    asked, _ = _drive(newborn, ["childbirth_reimbursement"], {"insured_parent": "uninsured"})
    assert asked == ["insured_parent"]


def test_question_whose_precondition_is_needed_is_asked_after_it(demo_data: dict[str, Any]) -> None:
    # Only `follow` decides anything, but `follow` is asked only when married == yes: ask that first.
    demo_data["items"][2].pop("when")
    demo_data["items"][2]["materials"] = [{"material": "father_book", "when": {"question": "follow", "equals": "father"}}]
    guide = Guide.model_validate(demo_data)
    first = next_question(guide, ["register"], {})
    assert first is not None and first.id == "married"
    second = next_question(guide, ["register"], {"married": "yes"})
    assert second is not None and second.id == "follow"
    assert next_question(guide, ["register"], {"married": "no"}) is None


def test_item_not_chosen_asks_nothing(demo_guide: Guide) -> None:
    assert next_question(demo_guide, ["first", "second", "extra"], {}) is None
    assert next_question(demo_guide, [], {}) is None
    assert next_question(demo_guide, ["no_such_item"], {}) is None


def test_inapplicable_item_stops_its_material_questions(demo_guide: Guide) -> None:
    # register applies only when local == local; its material questions stop mattering when it does not.
    assert next_question(demo_guide, ["register"], {"local": "other"}) is None


# --- build_checklist -------------------------------------------------------------------------


def test_default_items_leave_out_optional(demo_guide: Guide, newborn: Guide) -> None:
    assert default_items(demo_guide) == ["first", "second", "register"]
    assert "parenting_guidance" not in default_items(newborn)
    assert len(default_items(newborn)) == len(newborn.items) - 1


def test_chosen_items_keep_guide_order_and_drop_unknown(demo_guide: Guide) -> None:
    assert [i.id for i in chosen_items(demo_guide, ["register", "nope", "first"])] == ["first", "register"]


def test_material_of_several_items_is_one_entry(newborn: Guide, real_licences: dict[str, Licence]) -> None:
    answers = {"married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "insured"}
    checklist = build_checklist(newborn, real_licences, default_items(newborn), answers)
    ids = [m.id for m in checklist.materials]
    assert len(ids) == len(set(ids))
    by_id = {m.id: m for m in checklist.materials}
    assert by_id["birth_application_form"].for_items == (
        "birth_certificate", "vaccination", "hukou_registration", "social_security_card", "medical_insurance",
    )
    assert by_id["parents_id_card"].for_items == (
        "birth_certificate", "vaccination", "hukou_registration", "childbirth_reimbursement",
    )
    assert by_id["baby_photo"].for_items == ("social_security_card",)
    assert "hukou_book_mother" not in by_id and "nonmarital_statement" not in by_id
    assert [i.id for i in checklist.items] == default_items(newborn)


def test_demo_merge(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    answers = {"local": "local", "married": "yes", "follow": "mother"}
    checklist = build_checklist(demo_guide, demo_licences, ["first", "second", "register", "extra"], answers)
    by_id = {m.id: m for m in checklist.materials}
    assert by_id["form"].for_items == ("first", "second", "register", "extra")
    assert by_id["id_card"].for_items == ("first", "second")
    assert set(by_id) == {"form", "id_card", "shared", "birth", "paper_produced", "paper", "marriage", "mother_book"}


def test_unmarried_newborn_checklist(newborn: Guide, real_licences: dict[str, Licence]) -> None:
    checklist = build_checklist(newborn, real_licences, ["hukou_registration"], {"married": "unmarried", "local_hukou": "local"})
    ids = {m.id for m in checklist.materials}
    assert {"nonmarital_statement", "hukou_book_mother"} <= ids
    assert not ids & {"marriage_certificate", "hukou_book_father"}
    statement = next(m for m in checklist.materials if m.id == "nonmarital_statement")
    assert statement.deferrable and not statement.exempt and statement.deferrable_note


def test_exemption_electronic_licence(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    material = demo_guide.material("id_card")
    assert material is not None
    reason = exemption(material, demo_licences, demo_guide, ["first"])
    assert reason == "已共享居民身份证电子证照（县公安局），免提交"


def test_paper_only_licence_is_not_exempt(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    material = demo_guide.material("paper")
    assert material is not None
    assert exemption(material, demo_licences, demo_guide, ["first", "second"]) is None


def test_unknown_licence_code_is_not_exempt(demo_guide: Guide) -> None:
    material = demo_guide.material("id_card")
    assert material is not None
    assert exemption(material, {}, demo_guide, ["first"]) is None


def test_exemption_shared_data(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    material = demo_guide.material("shared")
    assert material is not None
    assert exemption(material, demo_licences, demo_guide, ["first"]) == "通过“示例共享平台”共享核验，免提交"


def test_exemption_produced_by_only_when_producer_chosen(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    birth = demo_guide.material("birth")
    paper_produced = demo_guide.material("paper_produced")
    assert birth is not None and paper_produced is not None
    produced = "由本件事中的“第一”办结后内部流转，免提交"  # the producer's short_title
    assert exemption(birth, demo_licences, demo_guide, ["first", "second"]) == produced
    assert exemption(paper_produced, demo_licences, demo_guide, ["first", "second"]) == produced
    # Producer not chosen: falls back to the licence (electronic: 免; paper: bring it).
    assert exemption(birth, demo_licences, demo_guide, ["second"]) == "已共享出生证电子证照（县卫健委），免提交"
    assert exemption(paper_produced, demo_licences, demo_guide, ["second"]) is None


def test_produced_by_a_chosen_but_inapplicable_item_falls_back(
    demo_data: dict[str, Any], demo_licences: dict[str, Licence]
) -> None:
    demo_data["items"][0]["when"] = {"question": "local", "equals": "local"}
    guide = Guide.model_validate(demo_data)
    checklist = build_checklist(guide, demo_licences, ["first", "second"], {"local": "other"})
    assert [i.id for i in checklist.not_applicable] == ["first"]
    by_id = {m.id: m for m in checklist.materials}
    assert by_id["birth"].exempt_reason == "已共享出生证电子证照（县卫健委），免提交"
    assert not by_id["paper_produced"].exempt


def test_newborn_exemptions(newborn: Guide, real_licences: dict[str, Licence]) -> None:
    answers = {"married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "insured"}
    full = {m.id: m for m in build_checklist(newborn, real_licences, default_items(newborn), answers).materials}
    assert full["birth_medical_certificate"].exempt_reason == "由本件事中的“出生医学证明”办结后内部流转，免提交"
    assert full["childbirth_record"].exempt_reason == "通过“全民健康信息平台 分娩记录”共享核验，免提交"
    assert full["parents_id_card"].exempt_reason == "已共享居民身份证电子证照（县公安局），免提交"
    assert not full["bank_card"].exempt and full["bank_card"].exempt_reason is None
    without = build_checklist(newborn, real_licences, ["social_security_card"], answers)
    birth = next(m for m in without.materials if m.id == "birth_medical_certificate")
    assert birth.exempt_reason == "已共享出生医学证明电子证照（县卫健委），免提交"


def test_stats_add_up_and_order(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    answers = {"local": "local", "married": "no"}
    checklist = build_checklist(demo_guide, demo_licences, ["first", "second", "register"], answers)
    exempt = {m.id for m in checklist.materials if m.exempt}
    assert exempt == {"id_card", "shared", "birth", "paper_produced"}
    assert checklist.total == len(checklist.materials) == 8
    assert checklist.exempt == 4 and checklist.to_submit == 4
    assert checklist.exempt + checklist.to_submit == checklist.total
    assert checklist.deferrable == 1  # mother_book
    # To bring first, then 容缺, then 免.
    keys = [(m.exempt, m.deferrable) for m in checklist.materials]
    assert keys == sorted(keys)
    assert checklist.materials[3].id == "mother_book"
    assert checklist.time_limit_days == demo_guide.time_limit_days
    assert dict(checklist.answers) == answers


def test_not_applicable_item(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    checklist = build_checklist(demo_guide, demo_licences, ["first", "register"], {"local": "other"})
    assert [i.id for i in checklist.items] == ["first"]
    assert [i.id for i in checklist.not_applicable] == ["register"]
    ids = {m.id for m in checklist.materials}
    assert not ids & {"marriage", "father_book", "mother_book", "statement"}
    assert checklist.materials[0].for_items == ("first",)  # form: only for the applicable item


def test_newborn_uninsured_reimbursement_not_applicable(newborn: Guide, real_licences: dict[str, Licence]) -> None:
    answers = {"married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "uninsured"}
    checklist = build_checklist(newborn, real_licences, default_items(newborn), answers)
    assert [i.id for i in checklist.not_applicable] == ["childbirth_reimbursement"]
    ids = {m.id for m in checklist.materials}
    assert not ids & {"bank_card", "medical_invoices", "insurance_record"}


def test_undecided_materials_are_conditional(demo_guide: Guide, demo_licences: dict[str, Licence]) -> None:
    checklist = build_checklist(demo_guide, demo_licences, ["register"], {"local": "local"})
    by_id = {m.id: m for m in checklist.materials}
    assert not by_id["form"].conditional
    assert by_id["marriage"].conditional and by_id["father_book"].conditional
    assert by_id["mother_book"].conditional and by_id["statement"].conditional


def test_needed_for_sure_by_one_item_is_not_conditional(demo_data: dict[str, Any], demo_licences: dict[str, Licence]) -> None:
    demo_data["items"][0]["materials"].append({"material": "marriage"})  # first needs it always
    guide = Guide.model_validate(demo_data)
    for items in (["first", "register"], ["register", "first"]):
        checklist = build_checklist(guide, demo_licences, items, {"local": "local"})
        marriage = next(m for m in checklist.materials if m.id == "marriage")
        assert not marriage.conditional
        assert marriage.for_items == ("first", "register")


def test_dangling_material_ref_is_skipped(demo_data: dict[str, Any], demo_licences: dict[str, Licence]) -> None:
    demo_data["items"][0]["materials"].append({"material": "ghost"})
    guide = Guide.model_validate(demo_data)
    checklist = build_checklist(guide, demo_licences, ["first"], {})
    assert "ghost" not in {m.id for m in checklist.materials}


def test_finished_flow_leaves_nothing_conditional_bankruptcy(real_catalog: Catalog) -> None:
    guide = real_catalog.guides["bankruptcy_check"]
    answers = {"applicant_role": "court"}
    assert next_question(guide, ["coordination"], answers) is None  # the flow is finished
    checklist = build_checklist(guide, real_catalog.licences, ["coordination"], answers)
    conditional = [m.id for m in checklist.materials if m.conditional]
    # agency_licence, individual_practice_cert, liquidation_member_list are for an administrator only.
    assert conditional == []


# --- properties over every real guide --------------------------------------------------------


@st.composite
def flows(draw: st.DrawFn, guides: list[Guide]) -> tuple[Guide, list[str], list[str], dict[str, str]]:
    """A guide, a subset of its items, and a complete answer path reached through next_question."""
    guide = draw(st.sampled_from(guides))
    item_ids = [i.id for i in guide.items]
    items = draw(st.lists(st.sampled_from(item_ids), unique=True, max_size=len(item_ids)))
    answers: dict[str, str] = {}
    asked: list[str] = []
    while (question := next_question(guide, items, answers)) is not None:
        assert question.id not in answers, f"{guide.id}: asked {question.id} twice"
        assert evaluate(question.when, answers) is True, f"{guide.id}: asked {question.id} before its precondition held"
        asked.append(question.id)
        answers[question.id] = draw(st.sampled_from([c.value for c in question.choices]))
        assert len(asked) <= len(guide.questions)
    return guide, items, asked, answers


def test_flow_properties_over_all_real_guides(real_catalog: Catalog) -> None:
    guides = list(real_catalog.guides.values())
    assert len(guides) == 21

    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(flow=flows(guides))
    def check(flow: tuple[Guide, list[str], list[str], dict[str, str]]) -> None:
        guide, items, asked, answers = flow
        assert len(asked) == len(set(asked))
        assert set(asked) == set(answers)
        checklist = build_checklist(guide, real_catalog.licences, items, answers)
        ids = [m.id for m in checklist.materials]
        assert len(ids) == len(set(ids)), f"{guide.id}: duplicate materials {ids}"
        assert checklist.exempt + checklist.to_submit == checklist.total == len(ids)
        assert {i.id for i in checklist.items} | {i.id for i in checklist.not_applicable} == set(items)
        for item in checklist.items:
            assert evaluate(item.when, answers) is not False
        for material in checklist.materials:
            assert material.exempt == (material.exempt_reason is not None)
            assert material.for_items and set(material.for_items) <= {i.id for i in checklist.items}

    check()
