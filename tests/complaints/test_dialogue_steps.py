"""ComplaintDialogue's steps without a database: starting, the prompts, interpreting each answer.

The helper `Draft` plays the part of Rasa and the action server: it keeps the complaint slots and
applies every Reply's slots, so the steps are tested as the form strings them together.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels import messages as m
from bot.complaints.dialogue import (
    DECLINED,
    NONE,
    ComplaintDialogue,
    ComplaintState,
    cn_date,
)
from bot.complaints.phones import INVALID
from bot.complaints.rules import Rules
from bot.guides.catalog import Catalog
from bot.guides.dialogue import Reply
from tests.dialogue_helpers import Recorder, parse_payload


@pytest.fixture
def recorder(catalog: Catalog) -> Recorder:
    return Recorder(catalog.wording.render)


@pytest.fixture
def dialogue(catalog: Catalog, rules: Rules, recorder: Recorder) -> ComplaintDialogue:
    d = ComplaintDialogue(catalog, rules)
    d.say = recorder  # type: ignore[method-assign]
    return d


class Draft:
    """The complaint slots as Rasa keeps them, changed only by the Replies' slots."""

    def __init__(self, dialogue: ComplaintDialogue, **slots: Any) -> None:
        self.dialogue = dialogue
        self.slots: dict[str, Any] = dict(slots)

    @property
    def state(self) -> ComplaintState:
        return ComplaintState.model_validate(self.slots)

    def apply(self, reply: Reply) -> Reply:
        self.slots.update(reply.slots)
        return reply

    def start(self, text: str) -> Reply:
        return self.apply(self.dialogue.start(self.state, text))

    def prompt(self, slot: str) -> Reply:
        return self.apply(self.dialogue.prompt(slot, self.state))  # type: ignore[arg-type]

    def answer(self, slot: str, text: str = "", choice: str | None = None) -> Reply:
        self.slots[slot] = text  # what from_text extracted
        return self.apply(self.dialogue.interpret(slot, self.state, text, choice))  # type: ignore[arg-type]

    def tap(self, slot: str, message: m.Message, title: str) -> Reply:
        assert isinstance(message, m.ChoicesMessage)
        choice = next(c for c in message.choices if c.title == title)
        _, entities = parse_payload(choice.payload)
        return self.answer(slot, choice.payload, entities.get("choice"))


def texts(reply: Reply) -> str:
    return " ".join(getattr(x, "text", "") for x in reply.messages)


# --- starting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    ["跑了三趟都没办成", "窗口态度太差", "办个证推来推去", "俺跑了好几趟了还是办不成", "有人骗保", "县公安局户籍室的人态度太差",
     "说好三天办好，半个月了还没信儿"],
)
def test_a_first_message_that_says_what_happened_is_the_complaint(dialogue: ComplaintDialogue, said: str) -> None:
    draft = Draft(dialogue)
    reply = draft.start(said)
    assert draft.slots["complaint_text"] == said
    assert draft.slots["complaint_key"] and len(draft.slots["complaint_key"]) >= 16
    assert "记下了" in texts(reply)


@pytest.mark.parametrize(
    "said", ["我要投诉", "我要举报", "投诉", "俺想反映个问题", "我要投诉县公安局", "我要投诉开饭店的事", "/complain", ""]
)
def test_only_saying_that_one_complains_leaves_the_question(dialogue: ComplaintDialogue, said: str) -> None:
    draft = Draft(dialogue)
    draft.start(said)
    assert draft.slots["complaint_text"] is None
    assert "什么问题" in texts(draft.prompt("complaint_text"))


def test_the_opening_words_are_kept_with_what_happened(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue)
    draft.start("我要举报")
    assert draft.slots["complaint_opening"] == "我要举报"
    draft.answer("complaint_text", "有人收了红包才给办营业执照")
    assert draft.slots["complaint_text"] == "我要举报：有人收了红包才给办营业执照"
    assert draft.slots["complaint_opening"] is None
    draft = Draft(dialogue)
    draft.start("我要投诉")
    draft.answer("complaint_text", "我要投诉，窗口态度差")  # already said: not twice
    assert draft.slots["complaint_text"] == "我要投诉，窗口态度差"


def test_a_new_start_drops_the_last_draft_and_makes_a_new_key(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue, complaint_text="旧的", complaint_subject="县人社局", complaint_phone=DECLINED,
                  complaint_confirm="submit", complaint_key="old", guide_id="newborn")
    draft.start("我要投诉")
    assert draft.slots["complaint_key"] not in (None, "old")
    assert all(draft.slots[k] is None for k in ("complaint_text", "complaint_subject", "complaint_phone", "complaint_confirm"))
    assert draft.slots["guide_id"] == "newborn"  # the guide stays: it pre-fills the subject


# --- what the complaint is about ------------------------------------------------------------------------


def test_the_subject_is_prefilled_from_the_guide_just_used(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue, guide_id="open_restaurant")
    draft.start("跑了三趟都没办成")
    [question] = draft.prompt("complaint_subject").messages
    assert isinstance(question, m.ChoicesMessage)
    assert "【开办餐饮店一件事】" in question.text
    assert question.guide is not None and question.guide.id == "open_restaurant"
    draft.tap("complaint_subject", question, "是，就是这个")
    assert draft.slots["complaint_subject"] == "开办餐饮店一件事"
    assert draft.slots["complaint_guide_id"] == "open_restaurant"


def test_a_department_or_matter_named_in_the_complaint_wins_over_the_last_guide(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue, guide_id="open_restaurant", complaint_text="派出所给娃上户口一直拖着")
    assert dialogue.prefill(draft.state) == ("县公安局", None)
    draft = Draft(dialogue, guide_id="newborn", complaint_text="开饭店办食品经营许可证跑了三趟")
    found = dialogue.prefill(draft.state)
    assert found is not None and found[0] == "开办餐饮店一件事"
    assert dialogue.prefill(ComplaintState(complaint_text="窗口态度差")) is None


def test_a_matter_only_hinted_at_still_wins_over_the_last_guide_when_no_department_is_named(
    dialogue: ComplaintDialogue,
) -> None:
    # 上户口 alone is a hint of 新生儿出生一件事; beside 派出所 the department wins (above), alone it stands.
    draft = Draft(dialogue, guide_id="open_restaurant", complaint_text="上户口的事一直拖着没人管")
    found = dialogue.prefill(draft.state)
    assert found is not None and found[0] == "新生儿出生一件事"


@pytest.mark.parametrize(
    ("said", "subject", "guide_id"),
    [
        ("是", "开办餐饮店一件事", "open_restaurant"),
        ("对的", "开办餐饮店一件事", "open_restaurant"),
        ("不是，是县公安局户籍室", "县公安局", None),
        ("社保局", "县人社局", None),
        ("公积金贷款买房", "住房公积金个人住房贷款购房一件事", "housing_fund_loan"),
        ("说不清", NONE, None),
        ("不知道是哪个部门", NONE, None),
        ("乡里的便民服务站", "乡里的便民服务站", None),
    ],
)
def test_the_subject_can_be_confirmed_or_changed(
    dialogue: ComplaintDialogue, said: str, subject: str, guide_id: str | None
) -> None:
    draft = Draft(dialogue, guide_id="open_restaurant", complaint_text="跑了三趟都没办成")
    reply = draft.answer("complaint_subject", said)
    assert reply.messages == []
    assert draft.slots["complaint_subject"] == subject
    assert draft.slots["complaint_guide_id"] == guide_id


@pytest.mark.parametrize("said", ["不是", "是", "我要投诉", "/choose{\"choice\": \"place:skip\"}"])
def test_an_unclear_subject_is_asked_again(dialogue: ComplaintDialogue, said: str) -> None:
    draft = Draft(dialogue, complaint_text="窗口态度差")  # nothing to pre-fill: “是” confirms nothing
    choice = "place:skip" if said.startswith("/") else None
    reply = draft.answer("complaint_subject", said, choice)
    assert draft.slots["complaint_subject"] is None
    assert "哪个事项或部门" in texts(reply)


def test_without_a_prefill_only_unknown_is_offered(dialogue: ComplaintDialogue) -> None:
    [question] = Draft(dialogue, complaint_text="窗口态度差").prompt("complaint_subject").messages
    assert isinstance(question, m.ChoicesMessage)
    assert [c.title for c in question.choices] == ["说不清"]


# --- where ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("said", "place"), [("县政务服务中心二楼3号窗口", "县政务服务中心二楼3号窗口"), ("不记得了", NONE),
                                            ("没有", NONE), ("不填", NONE)])
def test_the_place_is_optional(dialogue: ComplaintDialogue, said: str, place: str) -> None:
    draft = Draft(dialogue)
    draft.answer("complaint_place", said)
    assert draft.slots["complaint_place"] == place


def test_the_place_button_skips(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue)
    [question] = draft.prompt("complaint_place").messages
    draft.tap("complaint_place", question, "不填")
    assert draft.slots["complaint_place"] == NONE


# --- the phone --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        ("我的电话是13812345678，白天都在", "+8613812345678"),
        ("0373-5551234", "+863735551234"),
    ],
)
def test_a_valid_phone_is_stored_in_e164(dialogue: ComplaintDialogue, said: str, stored: str) -> None:
    draft = Draft(dialogue)
    reply = draft.answer("complaint_phone", said)
    assert reply.messages == []
    assert draft.slots["complaint_phone"] == stored


@pytest.mark.parametrize("said", ["12345", "1381234567", "23812345678", "abc", "电话你们要它干啥", "999999999999999999999"])
def test_an_invalid_phone_is_asked_again_in_chinese(dialogue: ComplaintDialogue, said: str) -> None:
    draft = Draft(dialogue)
    reply = draft.answer("complaint_phone", said)
    assert draft.slots["complaint_phone"] is None  # the form asks again
    assert texts(reply) == INVALID + "。"


@pytest.mark.parametrize("said", ["不留了", "不方便", "不想留", "算了不留了", "不用了", "没有", "保密"])
def test_the_phone_can_be_declined(dialogue: ComplaintDialogue, said: str) -> None:
    draft = Draft(dialogue)
    reply = draft.answer("complaint_phone", said)
    assert draft.slots["complaint_phone"] == DECLINED
    assert "我的投诉怎么样了" in texts(reply)  # reachable in the chat


def test_the_decline_button(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue)
    [question] = draft.prompt("complaint_phone").messages
    draft.tap("complaint_phone", question, "不留电话")
    assert draft.slots["complaint_phone"] == DECLINED


# --- the read-back ---------------------------------------------------------------------------------


def filled(dialogue: ComplaintDialogue, **changes: Any) -> Draft:
    slots = {
        "guide_id": "open_restaurant", "complaint_text": "跑了三趟都没办成", "complaint_subject": "开办餐饮店一件事",
        "complaint_guide_id": "open_restaurant", "complaint_place": "县政务服务中心", "complaint_phone": "+8613812345678",
        "complaint_key": "k" * 32,
    }
    return Draft(dialogue, **{**slots, **changes})


def test_the_readback_shows_every_answer(dialogue: ComplaintDialogue) -> None:
    [message] = filled(dialogue).prompt("complaint_confirm").messages
    assert isinstance(message, m.ChoicesMessage)
    for shown in ("跑了三趟都没办成", "开办餐饮店一件事", "县政务服务中心", "13812345678"):
        assert shown in message.text
    assert [parse_payload(c.payload) for c in message.choices] == [
        ("confirm_complaint", {"choice": "submit"}), ("confirm_complaint", {"choice": "edit"}),
        ("confirm_complaint", {"choice": "cancel"}),
    ]
    [declined] = filled(dialogue, complaint_phone=DECLINED, complaint_place=NONE, complaint_subject=NONE).prompt(
        "complaint_confirm").messages
    assert "不留" in declined.text and "未填写" in declined.text and "说不清" in declined.text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("said", "confirm", "editing"),
    [("确认提交", "submit", False), ("对，提交吧", "submit", False), ("没问题", "submit", False), ("中", "submit", False),
     ("修改", None, True), ("电话不对", None, True), ("不提交了", "cancel", False), ("取消", "cancel", False)],
)
def test_typed_answers_at_the_readback(dialogue: ComplaintDialogue, said: str, confirm: str | None, editing: bool) -> None:
    draft = filled(dialogue)
    draft.answer("complaint_confirm", said)
    assert draft.slots["complaint_confirm"] == confirm
    assert draft.slots.get("complaint_editing", False) is editing


@pytest.mark.parametrize("said", ["不好", "嗯嗯啊啊", "😀"])
def test_an_unclear_answer_at_the_readback_is_asked_again(dialogue: ComplaintDialogue, said: str) -> None:
    draft = filled(dialogue)
    reply = draft.answer("complaint_confirm", said)
    assert draft.slots["complaint_confirm"] is None and not draft.slots.get("complaint_editing")
    assert "确认提交" in texts(reply)


def test_edit_one_field_then_back_to_the_readback(dialogue: ComplaintDialogue) -> None:
    draft = filled(dialogue)
    [readback] = draft.prompt("complaint_confirm").messages
    draft.tap("complaint_confirm", readback, "修改")
    [which] = draft.prompt("complaint_confirm").messages
    assert isinstance(which, m.ChoicesMessage)
    draft.tap("complaint_confirm", which, "事项或部门")
    assert draft.slots["complaint_subject"] is None and draft.slots["complaint_guide_id"] is None
    assert draft.slots["complaint_editing"] is False and draft.slots["complaint_confirm"] is None
    draft.answer("complaint_subject", "县人社局")
    [readback] = draft.prompt("complaint_confirm").messages
    assert "县人社局" in readback.text  # type: ignore[union-attr]
    # typed: “电话” picks the phone; “不改了” goes back to the read-back unchanged
    draft.slots["complaint_editing"] = True
    draft.answer("complaint_confirm", "电话")
    assert draft.slots["complaint_phone"] is None
    draft.slots.update(complaint_phone="+8613812345678", complaint_editing=True)
    draft.answer("complaint_confirm", "不改了")
    assert draft.slots["complaint_phone"] == "+8613812345678" and draft.slots["complaint_editing"] is False


def test_the_text_answer(dialogue: ComplaintDialogue) -> None:
    draft = Draft(dialogue)
    reply = draft.answer("complaint_text", "我要投诉")
    assert draft.slots["complaint_text"] is None and "再多说几句" in texts(reply)
    reply = draft.answer("complaint_text", "啊" * 2001)
    assert draft.slots["complaint_text"] is None and "2000" in texts(reply)
    draft.answer("complaint_text", "态度差")
    assert draft.slots["complaint_text"] == "态度差"


def test_state_tolerates_what_rasa_may_hold() -> None:
    state = ComplaintState.model_validate({"complaint_editing": None, "complaint_text": 3, "complaint_key": ["x"]})
    assert state.complaint_editing is False and state.complaint_text is None and state.complaint_key is None


def test_cn_date() -> None:
    assert cn_date("2026-11-27") == "2026年11月27日"
