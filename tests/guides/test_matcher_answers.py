"""matcher.py (which 一件事 a text means) and answers.py (typed answers, item selection)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.guides.answers import is_done, match_choice, parse_items, wants_all
from bot.guides.catalog import Catalog
from bot.guides.matcher import GuideMatcher, normalize
from bot.guides.schema import Guide, Question

# --- identify on the real guides ------------------------------------------------------------


@pytest.fixture(scope="module")
def matcher(real_catalog: Catalog) -> GuideMatcher:
    return real_catalog.matcher


@pytest.mark.parametrize(
    ("text", "guide_id"),
    [
        ("新生儿出生一件事", "newborn"),
        ("宝宝出生", "newborn"),  # an alias
        ("给孩子上户口", "newborn"),  # an alias
        ("新生儿出生一件事要带什么材料？", "newborn"),  # the title inside a sentence
        ("开办餐饮店一件事", "open_restaurant"),
        ("ＯＫ，我想开办餐饮店", "open_restaurant"),  # full-width letters, punctuation
    ],
)
def test_identify_finds(matcher: GuideMatcher, text: str, guide_id: str) -> None:
    result = matcher.identify(text)
    assert result.outcome == "found", result
    assert result.best is not None and result.best.guide_id == guide_id
    assert len(result.candidates) == 1


def test_every_title_finds_its_guide(real_catalog: Catalog) -> None:
    wrong = {}
    for guide in real_catalog.guides.values():
        result = real_catalog.matcher.identify(guide.title)
        if result.outcome != "found" or result.best is None or result.best.guide_id != guide.id:
            wrong[guide.title] = result
    assert wrong == {}


@pytest.mark.parametrize("text", ["今天天气怎么样", "你好", "？？？", "", "   ", "1"])
def test_identify_none_when_nothing_is_named(matcher: GuideMatcher, text: str) -> None:
    result = matcher.identify(text)
    assert result.outcome == "none"
    assert result.best is None


def test_identify_forgives_one_wrong_character(matcher: GuideMatcher, newborn: Guide) -> None:
    # “办出生证明” (5 characters) is an alias of newborn; one character wrong gives a partial ratio of 80,
    # above FUZZY_MIN_RATIO, and no keyword of any guide is in the text, not even by sound: found by
    # fuzziness alone. (“办出声证明” is a homophone and is found by sound, keywords included.)
    assert "办出生证明" in newborn.aliases
    result = matcher.identify("办出土证明")
    assert result.outcome == "found", result
    assert result.best is not None and result.best.guide_id == "newborn"
    assert result.best.evidence == ("办出生证明",)
    homophone = matcher.identify("办出声证明")
    assert homophone.best is not None and homophone.best.guide_id == "newborn"
    assert homophone.best.evidence[0] == "办出生证明"


def test_identify_ambiguous_offers_the_close_ones() -> None:
    a = _guide("alpha", "阿尔法一件事", ["社保转移"])
    b = _guide("beta", "贝塔一件事", ["社保转入"])
    result = GuideMatcher([a, b]).identify("社保转")
    assert result.outcome == "ambiguous", result
    assert {c.guide_id for c in result.candidates} == {"alpha", "beta"}


def test_normalize() -> None:
    assert normalize("  新生儿，出生！ＡＢＣ ") == "新生儿出生abc"


# --- identify on small inline guides ---------------------------------------------------------


def _guide(guide_id: str, title: str, aliases: list[str], **extra: Any) -> Guide:
    data: dict[str, Any] = {
        "id": guide_id, "title": title, "sample_notice": "样例", "summary": "摘要", "aliases": aliases,
        "audience": "个人", "lead_department": "县某局", "basis": ["依据"], "acceptance": ["条件"],
        "process": ["流程"], "fees": "不收费", "time_limit_days": 1, "results": ["结果"], "delivery": ["领取"],
        "where": {"window": "窗口", "address": "地址", "hours": "时间", "online": "线上"},
        "materials": [{"id": "form", "name": "申请表"}],
        "items": [{"id": "only", "title": "唯一事项", "department": "县某局", "materials": [{"material": "form"}]}],
    }
    data.update(extra)
    return Guide.model_validate(data)


def test_keywords_alone_point_to_a_guide() -> None:
    guide = _guide("pets", "养犬登记一件事", ["办狗证"], keywords=["养狗", "犬"])
    result = GuideMatcher([guide]).identify("我家养狗了")
    assert result.outcome == "found" and result.best is not None and result.best.guide_id == "pets"


def test_exact_short_alias_beats_fuzzy_long_alias_of_another_guide() -> None:
    newborn = _guide("newborn", "新生儿出生一件事", ["生孩子"])
    school = _guide("school", "教育入学一件事", ["孩子上学要啥材料"])
    result = GuideMatcher([newborn, school]).identify("生孩子")
    assert result.outcome == "found", result
    assert result.best is not None and result.best.guide_id == "newborn"


# --- match_choice ---------------------------------------------------------------------------


@pytest.fixture
def newborn_q(newborn: Guide) -> dict[str, Question]:
    return {q.id: q for q in newborn.questions}


@pytest.fixture
def married_q(demo_guide: Guide) -> Question:
    question = demo_guide.question("married")
    assert question is not None
    # choices: yes (已婚; 是, 结了) and no (未婚; 不是, 没结)
    return question


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("是", "yes"),
        ("不是", "no"),  # exact synonym
        ("不是的", "no"),  # both “是” and “不是” are in the text: the longer wins
        ("是的呀", "yes"),
        ("我们已婚", "yes"),
        ("还没结呢", "no"),
        ("yes", "yes"),  # a button value
        ("1", "yes"),
        ("2", "no"),
        ("２", "no"),  # full-width digit
        ("二", "no"),
        ("第二个", "no"),
        ("3", None),  # out of range
        ("1 2", None),  # two numbers: not an answer
        ("", None),
        ("？？", None),
        ("随便", None),
    ],
)
def test_match_choice_demo(married_q: Question, text: str, value: str | None) -> None:
    choice = match_choice(married_q, text)
    assert (choice.value if choice else None) == value


def test_longest_phrase_wins_on_real_data(newborn_q: dict[str, Question]) -> None:
    local = newborn_q["local_hukou"]  # local has synonym 是, nonlocal has 不是
    assert {"是"} <= set(local.choices[0].synonyms) and {"不是"} <= set(local.choices[1].synonyms)
    for text in ("不是", "不是的", "不是啊，外地的"):
        choice = match_choice(local, text)
        assert choice is not None and choice.value == "nonlocal", text
    choice = match_choice(local, "是的")
    assert choice is not None and choice.value == "local"


@pytest.mark.parametrize(
    ("question", "text", "value"),
    [
        ("married", "已登记结婚", "married"),  # a title
        ("married", "未登记结婚", "unmarried"),
        ("married", "没领证", "unmarried"),
        ("married", "未登计结婚", "unmarried"),  # a typo: fuzzy ratio 80
        ("hukou_follow", "随母亲", "mother"),
        ("hukou_follow", "1", "father"),
        ("hukou_follow", "2", "mother"),
        ("insured_parent", "没有医保", "uninsured"),
    ],
)
def test_match_choice_real(newborn_q: dict[str, Question], question: str, text: str, value: str) -> None:
    choice = match_choice(newborn_q[question], text)
    assert choice is not None and choice.value == value


@pytest.mark.parametrize(
    ("question", "text", "wrong"),
    [
        ("married", "不是", "married"),  # 宝宝的父母是否已登记结婚？ — 不是 → 已登记结婚
        ("insured_parent", "不是", "insured"),
        ("married", "不对", "married"),
        ("local_hukou", "我不是本县的", "local"),
    ],
)
def test_negated_answer_does_not_pick_the_affirmative(
    newborn_q: dict[str, Question], question: str, text: str, wrong: str
) -> None:
    choice = match_choice(newborn_q[question], text)
    assert choice is None or choice.value != wrong


# --- item selection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 3", ["birth_certificate", "hukou_registration"]),
        ("1和3", ["birth_certificate", "hukou_registration"]),
        ("3、1", ["birth_certificate", "hukou_registration"]),  # guide order, whatever the typed order
        ("1,3", ["birth_certificate", "hukou_registration"]),
        ("第一个和第三个", ["birth_certificate", "hukou_registration"]),
        ("二和四", ["vaccination", "social_security_card"]),
        ("1 9", ["birth_certificate"]),  # out of range dropped
        ("户口和社保卡", ["hukou_registration", "social_security_card"]),  # aliases
        ("只办上户口", ["hukou_registration"]),
        ("出生医学证明和居民医保登记", ["birth_certificate", "medical_insurance"]),  # short titles
        ("预防接种证办理", ["vaccination"]),  # a title
        ("随便问问", []),
    ],
)
def test_parse_items(newborn: Guide, text: str, expected: list[str]) -> None:
    assert parse_items(newborn, text) == expected


def test_parse_items_demo(demo_guide: Guide) -> None:
    assert parse_items(demo_guide, "头一个") == ["first"]  # alias
    assert parse_items(demo_guide, "2 4") == ["second", "extra"]


@pytest.mark.parametrize("text", ["全部", "全部办理", "都办", "所有的都要", "全选"])
def test_wants_all(newborn: Guide, text: str) -> None:
    assert wants_all(text)
    assert parse_items(newborn, text) == []  # 全部 is not an item name


@pytest.mark.parametrize("text", ["1 3", "户口", "只办其中几项", "不全"])
def test_not_wants_all(text: str) -> None:
    assert not wants_all(text)


@pytest.mark.parametrize(("text", "done"), [("选好了", True), ("就这些", True), ("好了。", True), ("好", False), ("户口", False)])
def test_is_done(text: str, done: bool) -> None:
    assert is_done(text) is done


def test_a_homophone_typo_in_a_three_character_alias_still_finds_the_guide() -> None:
    from bot.guides.matcher import _one_typo_in_three

    assert _one_typo_in_three("公租房", "公租方咋申请")
    assert not _one_typo_in_three("公租房", "房租公")  # the first character must stand
    assert not _one_typo_in_three("公租房", "公司法人")  # one of three is not enough


@pytest.mark.parametrize(
    ("text", "guide_id"),
    [
        ("公祖房咋申请", "public_rental_housing"),  # 租 typed as its homophone 祖
        ("舍保卡丢了咋补", "social_security_card"),  # she for shè: 舍 picked from the IME list
        ("营业执照注消", "enterprise_deregistration"),
        ("残急证在哪办", "disability_services"),
    ],
)
def test_homophone_typos_find_the_guide(matcher: GuideMatcher, text: str, guide_id: str) -> None:
    result = matcher.identify(text)
    assert result.best is not None and result.best.guide_id == guide_id, result


def test_sound_is_blurred_pinyin_framed_by_spaces() -> None:
    from bot.guides.matcher import sound

    assert sound("社保卡") == sound("舍保卡") == " se bao ka "
    assert sound("注销") == sound("注消")
    assert sound("ab") == " a b "  # letters stay letters, one per position
    # Whole syllables only: “an” (安) must not be found inside “zhan” (站).
    assert sound("安") not in sound("车站")


def test_words_that_only_sound_alike_are_not_typos() -> None:
    """A homophone typo keeps at least half the characters; other words that sound the same do not."""
    from bot.guides.matcher import _sounds_alike, sound

    assert _sounds_alike("社保", sound("社保"), "舍保卡丢了", sound("舍保卡丢了"))
    assert not _sounds_alike("失明", sound("失明"), "公司名下", sound("公司名下"))  # si ming, no character kept
    assert not _sounds_alike("安置", sound("安置"), "破产案子", sound("破产案子"))


@pytest.mark.parametrize(
    ("text", "guide_id", "not_offered"),
    [
        ("孩子秋季入学一件事", "school_enrollment", "enterprise_change"),  # 件事 sounds like its keyword 监事
        ("法院指定俺当管理人了，公司名下的房产能一次查全不", "bankruptcy_check", "disability_services"),  # 司名 ~ 失明
    ],
)
def test_sound_alone_does_not_offer_another_guide(
    matcher: GuideMatcher, text: str, guide_id: str, not_offered: str
) -> None:
    ranked = {m.guide_id for m in matcher.rank(text)}
    assert guide_id in ranked and not_offered not in ranked, ranked


def test_a_short_alias_forgives_a_wrong_or_missing_edge_character_but_not_a_hole() -> None:
    """Four characters with one typed wrong, or without the verb in front, are still the alias;
    the same three characters with a gap where the fourth was are other words."""
    change = _guide("change", "企业信息变更一件事", ["公司改名"])
    shop = _guide("shop", "开办餐饮店一件事", ["开餐饮店"])
    matcher = GuideMatcher([change, shop])

    typo = matcher.identify("公司该名咋弄")  # 改 typed as 该: one character wrong
    assert typo.best is not None and typo.best.guide_id == "change", typo
    edge = matcher.identify("餐饮店咋办手续")  # 开 left off
    assert edge.best is not None and edge.best.guide_id == "shop", edge

    assert matcher.rank("公司名下有几辆车") == []  # 公司名 is not 公司改名 with 改 dropped


def test_words_as_written_outweigh_a_phrase_that_is_only_nearly_there() -> None:
    closing = _guide("closing", "企业注销登记一件事", ["企业注销登记"])
    bankrupt = _guide("bankrupt", "企业破产信息核查一件事", ["破产信息核查"], keywords=["破产"])
    matcher = GuideMatcher([closing, bankrupt])

    text = "破产企业注册登记信息咋查"  # 企业注册登记 is one character from 企业注销登记
    assert [m.guide_id for m in matcher.rank(text)] == ["bankrupt"]
    # With nothing written elsewhere, the near miss still finds its guide.
    alone = matcher.identify("企业注消登记咋弄")
    assert alone.outcome == "found" and alone.best is not None and alone.best.guide_id == "closing"


def test_a_sub_item_named_beside_its_bundle_does_not_count_for_another_guide() -> None:
    """社保卡 is a sub-item of the veterans' 一件事; said beside 退伍 it is not the 社保卡 guide."""
    card_item = {"id": "card", "title": "社会保障卡申领", "aliases": ["社保卡"], "department": "县人社局",
                 "materials": [{"material": "form"}]}
    veteran = _guide("veteran", "退役军人服务一件事", ["退伍报到"], keywords=["退伍"], items=[card_item])
    card = _guide("card", "社会保障卡居民服务一件事", ["办社保卡"], keywords=["社保卡"])
    matcher = GuideMatcher([veteran, card])

    both = matcher.identify("退伍回来了，社保卡要重新办吗")
    assert both.outcome == "found" and both.best is not None and both.best.guide_id == "veteran", both
    card_only = matcher.identify("社保卡丢了咋补")  # no bundle named: the card's own guide
    assert card_only.outcome == "found" and card_only.best is not None and card_only.best.guide_id == "card"
