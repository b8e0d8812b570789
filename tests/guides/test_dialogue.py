"""GuideDialogue: the guided conversation step by step, as the Rasa actions drive it.

The helper `Flow` plays the part of Rasa and the action server: it keeps the flow slots, applies
every Reply's slots, and answers buttons by their payloads, so the payloads themselves are tested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from bot.channels import messages as m
from bot.guides.catalog import Catalog, build_catalog
from bot.guides.checklist import default_items
from bot.guides.dialogue import DONE, FlowState, GuideDialogue, Reply, payload
from bot.guides.wording import load_wording
from tests.dialogue_helpers import Recorder, parse_payload

NEWBORN_REF = {"id": "newborn", "title": "新生儿出生一件事"}

@pytest.fixture
def recorder(real_catalog: Catalog) -> Recorder:
    return Recorder(real_catalog.wording.render)


@pytest.fixture
def dialogue(real_catalog: Catalog, recorder: Recorder) -> GuideDialogue:
    d = GuideDialogue(real_catalog)
    d.say = recorder  # type: ignore[method-assign]
    return d


class Flow:
    """The slots Rasa would keep, and every message the user has seen."""

    def __init__(self, dialogue: GuideDialogue) -> None:
        self.d = dialogue
        self.slots: dict[str, Any] = {}
        self.seen: list[m.Message] = []

    @property
    def state(self) -> FlowState:
        return FlowState.model_validate({k: v for k, v in self.slots.items() if v is not None or k != "answers"})

    def apply(self, reply: Reply) -> Reply:
        assert isinstance(reply, Reply)
        self.seen.extend(reply.messages)
        self.slots.update(reply.slots)
        return reply

    def identify(self, text: str, guide_id: str | None = None) -> Reply:
        return self.apply(self.d.identify(text, guide_id))

    def items_prompt(self) -> Reply:
        return self.apply(self.d.items_prompt(self.state))

    def items(self, text: str = "", choice: str | None = None, guide_id: str | None = None) -> Reply:
        return self.apply(self.d.items_interpret(self.state, text, choice, guide_id))

    def question_prompt(self) -> Reply:
        return self.apply(self.d.question_prompt(self.state))

    def answer(self, text: str = "", choice: str | None = None, guide_id: str | None = None) -> Reply:
        return self.apply(self.d.question_interpret(self.state, text, choice, guide_id))

    def checklist(self) -> Reply:
        return self.apply(self.d.checklist(self.state))

    def switch(self, text: str) -> Reply:
        return self.apply(self.d.switch(self.state, text))

    def explain(self, text: str) -> Reply:
        return self.apply(self.d.explain(self.state, text))


def only_choices(reply: Reply) -> m.ChoicesMessage:
    [message] = reply.messages
    assert isinstance(message, m.ChoicesMessage)
    return message


def button(message: m.ChoicesMessage, title: str) -> dict[str, str]:
    """The entities of the button titled `title` (or, failing that, the one title starting with it)."""
    [choice] = [c for c in message.choices if c.title == title] or [c for c in message.choices if c.title.startswith(title)]
    intent, entities = parse_payload(choice.payload)
    assert intent == "choose"
    return entities


def refs(messages: list[m.Message]) -> Iterator[dict[str, str] | None]:
    for message in messages:
        guide = getattr(message, "guide", None)
        yield guide.model_dump() if guide else None


def answer_questions(flow: Flow, pick: Callable[[str, m.ChoicesMessage], str]) -> list[str]:
    """question_prompt / question_interpret until guide_question is done; the question ids asked."""
    asked: list[str] = []
    while flow.slots.get("guide_question") != DONE:
        reply = flow.question_prompt()
        if reply.slots.get("guide_question") == DONE:
            break
        question_id = reply.slots["pending_question"]
        asked.append(question_id)
        assert question_id not in asked[:-1], f"asked {question_id} twice"
        entities = button(only_choices(reply), pick(question_id, only_choices(reply)))
        reply = flow.answer(choice=entities["choice"])
        assert reply.messages == []
        assert flow.slots["answers"][question_id] == entities["choice"]
        assert len(asked) <= 10
    return asked


# --- the whole newborn flow ----------------------------------------------------------------

NEWBORN_PICKS = {"married": "已登记结婚", "hukou_follow": "随父亲", "local_hukou": "是本县户籍", "insured_parent": "已参保"}


def test_whole_newborn_flow(dialogue: GuideDialogue, real_catalog: Catalog) -> None:
    flow = Flow(dialogue)
    newborn = real_catalog.guides["newborn"]

    reply = flow.identify("宝宝出生了，要办哪些手续？")
    assert reply.slots["guide_id"] == "newborn" and reply.slots["guide_status"] == "found"
    assert reply.slots["answers"] == {} and reply.slots["guide_items"] is None
    assert "新生儿出生一件事" in reply.messages[0].text  # type: ignore[union-attr]

    prompt = only_choices(flow.items_prompt())
    assert [c.payload for c in prompt.choices] == ['/choose{"choice": "all"}', '/choose{"choice": "some"}']
    assert f"全部办理（{len(default_items(newborn))}项）" == prompt.choices[0].title
    assert all(c.guide and c.guide.model_dump() == NEWBORN_REF for c in prompt.choices)
    for n, item in enumerate(newborn.items, start=1):
        assert f"{n}. {item.title}" in prompt.text

    reply = flow.items(choice=button(prompt, "全部办理")["choice"])
    assert flow.slots["guide_items"] == default_items(newborn)
    assert reply.slots["guide_question"] is None  # questions follow

    asked = answer_questions(flow, lambda qid, _msg: NEWBORN_PICKS[qid])
    assert asked == ["married", "hukou_follow", "local_hukou", "insured_parent"]

    reply = flow.checklist()
    checklist, after = reply.messages
    assert isinstance(checklist, m.ChecklistMessage) and isinstance(after, m.TextMessage)
    assert checklist.guide.model_dump() == NEWBORN_REF
    assert [i.id for i in checklist.items] == default_items(newborn)
    stats = checklist.stats
    assert stats.total == len(checklist.materials)
    assert stats.exempt == sum(x.exempt for x in checklist.materials)
    assert stats.to_submit == stats.total - stats.exempt
    assert stats.deferrable == sum(x.deferrable and not x.exempt for x in checklist.materials)
    assert stats.exempt >= 3
    for material in checklist.materials:
        assert material.exempt == (material.exempt_reason is not None)
        if material.exempt:
            assert material.exempt_reason and material.exempt_reason.endswith("免提交")
    by_id = {x.id: x for x in checklist.materials}
    assert "内部流转" in (by_id["birth_medical_certificate"].exempt_reason or "")
    assert "共享核验" in (by_id["childbirth_record"].exempt_reason or "")
    assert by_id["marriage_certificate"].exempt and "结婚证" in (by_id["marriage_certificate"].exempt_reason or "")
    assert by_id["parents_id_card"].for_items == ["出生医学证明", "预防接种证", "户口登记", "生育医疗费用报销"]
    assert [(a.question, a.answer) for a in checklist.answers] == [
        (newborn.question(q).text, NEWBORN_PICKS[q]) for q in asked  # type: ignore[union-attr]
    ]
    assert checklist.not_applicable == []
    assert checklist.time_limit_days == newborn.time_limit_days and checklist.fees == newborn.fees
    assert checklist.where.window == newborn.where.window
    assert checklist.sample_notice == newborn.sample_notice
    assert f"共{stats.total}项" in after.text and f"其中{stats.exempt}项" in after.text
    assert reply.slots["last_items"] == default_items(newborn)
    assert reply.slots["guide_items"] is None and reply.slots["guide_status"] is None

    # Every message of the flow carries the guide reference, and so does every button.
    assert list(refs(flow.seen)) == [NEWBORN_REF] * len(flow.seen)
    for message in flow.seen:
        if isinstance(message, m.ChoicesMessage):
            assert all(c.guide and c.guide.model_dump() == NEWBORN_REF for c in message.choices)
    # The checklist serializes as the chat API sends it.
    dumped = m.dump([checklist])[0]
    assert dumped["type"] == "checklist" and dumped["guide"] == NEWBORN_REF


def test_unmarried_flow_skips_which_parent(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    flow.items(choice="all")
    picks = {**NEWBORN_PICKS, "married": "未登记结婚", "insured_parent": "未参保"}
    asked = answer_questions(flow, lambda qid, _msg: picks[qid])
    assert asked == ["married", "local_hukou", "insured_parent"]
    checklist = flow.checklist().messages[0]
    assert isinstance(checklist, m.ChecklistMessage)
    assert [x.id for x in checklist.not_applicable] == ["childbirth_reimbursement"]
    assert checklist.not_applicable[0].note
    ids = {x.id for x in checklist.materials}
    assert "nonmarital_statement" in ids and "marriage_certificate" not in ids
    assert all(ref == NEWBORN_REF for ref in refs(flow.seen))


def test_typed_answers_work_like_buttons(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    flow.items("户口")  # typed item name
    assert flow.slots["guide_items"] == ["hukou_registration"]
    flow.question_prompt()
    assert flow.slots["pending_question"] == "married"
    reply = flow.answer("结了")
    assert reply.slots["answers"] == {"married": "married"} and reply.slots["guide_question"] is None
    flow.question_prompt()
    reply = flow.answer("2")  # the second button: 随母亲
    assert reply.slots["answers"]["hukou_follow"] == "mother"


# --- sub-items ------------------------------------------------------------------------------


def test_items_some_mode_toggles_and_done(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    reply = flow.items(choice="some")
    assert reply.messages == [] and reply.slots == {"guide_items": None, "items_draft": []}

    prompt = only_choices(flow.items_prompt())
    assert "已选" not in prompt.text
    assert [c.payload for c in prompt.choices][-1] == '/choose{"choice": "done"}'
    assert prompt.choices[0].payload == '/choose{"choice": "item:birth_certificate"}'
    assert not any(c.title.startswith("✓") for c in prompt.choices)

    flow.items(choice=button(prompt, "社会保障卡")["choice"])
    flow.items(choice="item:hukou_registration")
    assert flow.slots["items_draft"] == ["hukou_registration", "social_security_card"]  # guide order
    flow.items(choice="item:social_security_card")  # tapped again: off
    assert flow.slots["items_draft"] == ["hukou_registration"]
    flow.items(choice="item:no_such_item")  # ignored
    assert flow.slots["items_draft"] == ["hukou_registration"]
    assert flow.slots["guide_items"] is None

    prompt = only_choices(flow.items_prompt())
    assert "已选：户口登记" in prompt.text
    assert [c.title for c in prompt.choices if c.title.startswith("✓ ")] == ["✓ 户口登记"]

    reply = flow.items(choice="done")
    assert reply.slots["guide_items"] == ["hukou_registration"] and reply.slots["items_draft"] is None
    assert reply.slots["guide_question"] is None  # 户口登记 needs questions
    assert "户口登记" in reply.messages[0].text  # type: ignore[union-attr]
    assert all(ref == NEWBORN_REF for ref in refs(flow.seen))


def test_items_done_without_questions_is_done(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    flow.items(choice="some")
    flow.items(choice="item:social_security_card")
    reply = flow.items("选好了")  # typed instead of the button
    assert reply.slots["guide_items"] == ["social_security_card"]
    assert reply.slots["guide_question"] == DONE
    assert flow.question_prompt().slots == {"guide_question": DONE, "pending_question": None}
    checklist = flow.checklist().messages[0]
    assert isinstance(checklist, m.ChecklistMessage) and [i.id for i in checklist.items] == ["social_security_card"]


def test_items_done_with_nothing_picked(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    flow.items(choice="some")
    reply = flow.items(choice="done")
    assert reply.slots == {"guide_items": None, "items_draft": []}
    [message] = reply.messages
    assert isinstance(message, m.TextMessage) and message.guide and message.guide.model_dump() == NEWBORN_REF


def test_items_typed_numbers_and_all(dialogue: GuideDialogue, newborn: Any) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    assert flow.items("1和3").slots["guide_items"] == ["birth_certificate", "hukou_registration"]
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    assert flow.items("全部都办").slots["guide_items"] == default_items(newborn)


def test_items_not_understood(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    reply = flow.items("嗯嗯啊啊")
    assert reply.slots == {"guide_items": None}
    [message] = reply.messages
    assert isinstance(message, m.TextMessage) and message.guide and message.guide.model_dump() == NEWBORN_REF


# --- questions ------------------------------------------------------------------------------


def _at_first_question(dialogue: GuideDialogue) -> Flow:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    flow.items(choice="all")
    flow.question_prompt()
    assert flow.slots["pending_question"] == "married"
    return flow


def test_answer_not_understood(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    reply = flow.answer("今天星期几")
    assert reply.slots == {"guide_question": None}
    [message] = reply.messages
    assert isinstance(message, m.TextMessage)
    assert message.guide and message.guide.model_dump() == NEWBORN_REF
    assert "已登记结婚" in message.text  # shows how to answer
    assert flow.slots["answers"] == {} and flow.slots["pending_question"] == "married"


def test_stale_button_of_another_question_is_not_understood(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    reply = flow.answer(choice="father")  # a value of hukou_follow, not of married
    assert reply.slots == {"guide_question": None} and flow.slots["answers"] == {}


def test_answer_naming_another_guide_offers_to_switch(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    reply = flow.answer("我想开办餐饮店")
    assert reply.slots == {"guide_question": None}
    first, offer = reply.messages
    assert isinstance(first, m.TextMessage) and first.guide and first.guide.id == "newborn"
    assert isinstance(offer, m.ChoicesMessage) and offer.guide and offer.guide.id == "open_restaurant"
    assert [parse_payload(c.payload) for c in offer.choices] == [("ask_guide", {"guide_id": "open_restaurant"})]


def test_switching_guide_mid_flow_resets_it(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    flow.answer(choice="married")
    assert flow.slots["answers"] == {"married": "married"}
    reply = flow.answer(guide_id="open_restaurant")
    assert reply.slots["guide_id"] == "open_restaurant" and reply.slots["guide_status"] == "found"
    assert reply.slots["answers"] == {} and reply.slots["guide_items"] is None
    assert reply.slots["pending_question"] is None and reply.slots["items_draft"] is None
    assert reply.slots["guide_question"] is None
    ref = {"id": "open_restaurant", "title": "开办餐饮店一件事"}
    assert list(refs(reply.messages)) == [ref, ref]
    assert "改为办理【开办餐饮店一件事】" in reply.messages[0].text  # type: ignore[union-attr]
    # The new flow starts from its own items.
    prompt = only_choices(flow.items_prompt())
    assert prompt.guide and prompt.guide.model_dump() == ref


def test_switching_guide_while_choosing_items(dialogue: GuideDialogue) -> None:
    flow = Flow(dialogue)
    flow.identify("新生儿出生一件事")
    flow.items(choice="some")
    flow.items(choice="item:vaccination")
    reply = flow.items(guide_id="retirement")
    assert reply.slots["guide_id"] == "retirement" and reply.slots["items_draft"] is None


def test_a_switch_that_names_the_new_matter_starts_it(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    flow.answer(choice="married")
    reply = flow.switch("这个先不弄了，换成办退休的")
    assert reply.slots["guide_id"] == "retirement" and reply.slots["guide_status"] == "found"
    assert reply.slots["answers"] == {} and reply.slots["guide_items"] is None
    assert "改为办理【退休一件事】" in reply.messages[0].text  # type: ignore[union-attr]
    prompt = only_choices(flow.items_prompt())
    assert prompt.guide and prompt.guide.id == "retirement"


@pytest.mark.parametrize("text", ["换一个事项", "不办这个了，换个别的", "换成新生儿出生的吧"])
def test_a_switch_without_another_matter_drops_the_guide_and_asks_which(dialogue: GuideDialogue, text: str) -> None:
    # The last one names the guide in progress: nothing to switch to.
    flow = _at_first_question(dialogue)
    reply = flow.switch(text)
    assert reply.slots["guide_id"] is None and reply.slots["guide_status"] is None
    assert reply.slots["answers"] == {}
    assert isinstance(reply.messages[0], m.ChoicesMessage)  # the featured guides to tap


def test_same_guide_id_is_not_a_switch(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    reply = flow.answer(choice="married", guide_id="newborn")
    assert reply.slots["answers"] == {"married": "married"}


def test_unknown_guide_in_state(dialogue: GuideDialogue) -> None:
    state = FlowState(guide_id="no_such_guide")
    for reply in (dialogue.items_prompt(state), dialogue.question_prompt(state), dialogue.checklist(state)):
        assert reply.slots["guide_id"] is None
        assert isinstance(reply.messages[0], m.ChoicesMessage)  # featured guides offered
    assert dialogue.checklist_message(state) is None


# --- identify -------------------------------------------------------------------------------


def test_identify_by_guide_id_entity(dialogue: GuideDialogue) -> None:
    reply = dialogue.identify("随便什么", guide_id="open_restaurant")
    assert reply.slots["guide_id"] == "open_restaurant"


def test_identify_not_found_offers_featured(dialogue: GuideDialogue, real_catalog: Catalog) -> None:
    reply = dialogue.identify("今天天气怎么样")
    assert reply.slots == {"guide_status": "none"}
    message = only_choices(reply)
    featured = [parse_payload(c.payload) for c in message.choices]
    assert featured[-1] == ("help", {})
    assert [e["guide_id"] for _, e in featured[:-1]] == list(real_catalog.wording.featured)


# --- explain --------------------------------------------------------------------------------


def test_explain_marriage_certificate(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    [message] = flow.explain("为什么要结婚证").messages
    assert isinstance(message, m.TextMessage) and message.guide and message.guide.model_dump() == NEWBORN_REF
    assert "结婚证" in message.text and "免" in message.text
    assert "婚内生育的出生登记须核验父母婚姻关系" in message.text  # the material's `why`


def test_explain_deferrable_and_unknown(dialogue: GuideDialogue) -> None:
    flow = _at_first_question(dialogue)
    [message] = flow.explain("为什么要照片").messages
    assert "容缺" in message.text and "免提交" not in message.text  # type: ignore[union-attr]
    [message] = flow.explain("为什么要护照").messages
    assert "没找到" in message.text and "父母的结婚证" in message.text  # type: ignore[union-attr]


def test_explain_without_guide(dialogue: GuideDialogue) -> None:
    [message] = dialogue.explain(FlowState(), "为什么要结婚证").messages
    assert isinstance(message, m.ChoicesMessage) and "哪件事" in message.text


def test_explain_after_checklist_agrees_with_it(make_guides_dir: Callable[..., Path], demo_data: dict[str, Any]) -> None:
    catalog = build_catalog(make_guides_dir({"demo": demo_data}))
    dialogue = GuideDialogue(catalog)
    flow = Flow(dialogue)
    flow.identify("", guide_id="demo")
    flow.items(choice="some")
    flow.items(choice="item:second")  # not `first`, which produces 纸质产出材料
    flow.items(choice="done")
    checklist = flow.checklist().messages[0]
    assert isinstance(checklist, m.ChecklistMessage)
    produced = next(x for x in checklist.materials if x.id == "paper_produced")
    assert not produced.exempt  # the checklist says: bring it
    [message] = flow.explain("为什么要纸质产出材料").messages
    assert "免提交" not in message.text  # type: ignore[union-attr]


# --- fixed replies and the templates --------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["greet", "help", "goodbye", "thank", "acknowledge", "out_of_scope", "fallback", "stopped", "switch"]
)
def test_fixed_replies(dialogue: GuideDialogue, key: str, real_catalog: Catalog) -> None:
    reply = dialogue.reply(key)
    assert reply.messages and reply.messages[0].text  # type: ignore[union-attr]
    if key in ("switch", "stopped"):
        assert reply.slots["guide_id"] is None and reply.slots["answers"] == {}
    if key == "help":
        assert f"{len(real_catalog.guides)}件事" in reply.messages[0].text  # type: ignore[union-attr]


def test_every_template_renders_in_the_flows(
    dialogue: GuideDialogue, recorder: Recorder, real_catalog: Catalog,
    make_guides_dir: Callable[..., Path], demo_data: dict[str, Any],
) -> None:
    flow = Flow(dialogue)
    flow.identify("宝宝出生")
    flow.items_prompt()
    flow.items("嗯嗯啊啊")
    flow.items(choice="some")
    flow.items_prompt()
    flow.items(choice="done")
    flow.items(choice="item:hukou_registration")
    flow.items_prompt()
    flow.items(choice="done")
    flow.question_prompt()
    flow.answer("今天星期几")
    answer_questions(flow, lambda _qid, msg: msg.choices[0].title)
    flow.explain("为什么要结婚证")
    flow.explain("为什么要护照")
    flow.answer(guide_id="retirement")
    flow.checklist()
    dialogue.explain(FlowState(), "为什么要结婚证")
    dialogue.identify("今天天气怎么样")
    for key in ("greet", "help", "goodbye", "thank", "acknowledge", "out_of_scope", "fallback", "stopped", "switch"):
        dialogue.reply(key)
    # ambiguous: two small guides that share most of an alias
    other = {**demo_data, "id": "demo_b", "title": "另一演示一件事", "aliases": ["社保转入"]}
    demo_data["aliases"] = ["社保转移"]
    small = GuideDialogue(build_catalog(make_guides_dir({"demo": demo_data, "demo_b": other})))
    small.say = recorder  # type: ignore[method-assign]
    reply = small.identify("社保转")
    assert reply.slots == {"guide_status": "ambiguous"}
    # complaint_* and policy_* belong to those dialogues (tests/complaints/test_dialogue_api.py and
    # tests/policies/test_dialogue_api.py check them)
    assert recorder.keys == {
        k for k in real_catalog.wording.templates if not k.startswith(("complaint_", "policy_"))
    }


def test_templates_are_strict_and_sandboxed(tmp_path: Path) -> None:
    path = tmp_path / "replies.yml"
    path.write_text(
        "replies:\n  typo: '{{ guied.title }}'\n  escape: '{{ guide.__class__.__mro__ }}'\n", encoding="utf-8"
    )
    wording = load_wording(path)
    with pytest.raises(UndefinedError):
        wording.render("typo", guide={"title": "x"})
    with pytest.raises(SecurityError):
        wording.render("escape", guide=FlowState())


def test_payload_helper() -> None:
    assert payload("help") == "/help"
    assert payload("choose", choice="全部") == '/choose{"choice": "全部"}'


def test_mid_question_an_answer_wins_and_a_why_question_is_explained() -> None:
    from bot.guides.catalog import build_catalog
    from bot.guides.checklist import default_items
    from bot.guides.dialogue import FlowState, GuideDialogue

    dialogue = GuideDialogue(build_catalog(Path(__file__).resolve().parents[2] / "guides"))
    guide = dialogue.catalog.guides["newborn"]
    state = FlowState(guide_id="newborn", guide_items=default_items(guide), answers={"married": "unmarried"},
                      pending_question="local_hukou")
    # Sounds like a question about 户籍, but it is the answer to the question being asked.
    answered = dialogue.question_interpret(state, "是本县户籍", None, None)
    assert answered.messages == [] and answered.slots["answers"]["local_hukou"] == "local"
    # A real why-question: explained, nothing answered, the same question is asked again.
    why = dialogue.question_interpret(state, "为什么要照片", None, None)
    assert why.slots == {"guide_question": None}
    assert "照片" in why.messages[0].text and why.messages[0].guide.id == "newborn"
