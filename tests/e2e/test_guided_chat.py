"""End to end: real Rasa, real action server, real bot, talking through POST /api/v1/chat."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Chat

pytestmark = pytest.mark.e2e


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


def choices(messages: list[dict]) -> list[dict]:
    found = of_type(messages, "choices")
    assert found, f"expected a choices message, got {json.dumps(messages, ensure_ascii=False)}"
    return found[-1]["choices"]


def payload_with(messages: list[dict], needle: str) -> str:
    for choice in choices(messages):
        if needle in choice["payload"]:
            return choice["payload"]
    raise AssertionError(f"no choice with {needle!r} in {choices(messages)}")


def run_to_checklist(chat: Chat, messages: list[dict], guide_id: str, answer_index: int = 0) -> dict:
    """Take all sub-items, answer every question with the given option, return the checklist."""
    flow = list(messages)
    messages = chat.tap(payload_with(messages, '"all"'))
    flow += messages
    for _ in range(10):
        checklist = of_type(messages, "checklist")
        if checklist:
            break
        options = choices(messages)
        pick = options[min(answer_index, len(options) - 1)]
        messages = chat.tap(pick["payload"])
        flow += messages
    else:
        raise AssertionError("no checklist after 10 answers")
    for message in flow:  # DESIGN.md: every message of a guide's flow carries the guide
        assert message.get("guide", {}).get("id") == guide_id, message
    return checklist[0]


def assert_complete(checklist: dict, guide_id: str, title: str) -> None:
    assert checklist["guide"] == {"id": guide_id, "title": title}
    stats = checklist["stats"]
    assert stats["total"] == len(checklist["materials"]) > 0
    assert stats["exempt"] == sum(m["exempt"] for m in checklist["materials"])
    assert stats["to_submit"] == stats["total"] - stats["exempt"]
    assert checklist["time_limit_days"] > 0
    assert checklist["where"]["window"] and checklist["where"]["online"]
    for material in checklist["materials"]:
        assert (material["exempt_reason"] is not None) == material["exempt"]
    assert any(m["exempt"] for m in checklist["materials"]), "a 一件事 without a single 免 material"


@pytest.mark.parametrize(
    ("utterance", "guide_id", "title"),
    [
        ("娃刚生下来要办啥手续", "newborn", "新生儿出生一件事"),
        ("开个小饭馆要跑哪些部门", "open_restaurant", "开办餐饮店一件事"),
        ("俺爹今年要退休了，手续咋办", "retirement", "退休一件事"),
        ("想用公积金贷款买房", "housing_fund_loan", "住房公积金个人住房贷款购房一件事"),
        ("孩子上小学报名要准备啥", "school_enrollment", "教育入学一件事"),
        ("公司不干了要注销", "enterprise_deregistration", "企业注销登记一件事"),
        ("申请公租房要啥材料", "public_rental_housing", "申请公租房一件事"),
    ],
)
def test_guided_to_one_complete_notice(chat: Chat, utterance: str, guide_id: str, title: str) -> None:
    first = chat.say(utterance)
    assert title in of_type(first, "text")[0]["text"], first  # names the 一件事 it understood
    checklist = run_to_checklist(chat, first, guide_id)
    assert_complete(checklist, guide_id, title)


def test_typed_answers_and_only_questions_that_matter(chat: Chat) -> None:
    messages = chat.say("宝宝出生了要办哪些证")
    messages = chat.say("全部都办")
    assert "婚" in of_type(messages, "choices")[-1]["text"]
    messages = chat.say("没结婚")  # unmarried: 户口随父/随母 must not be asked
    texts = " ".join(m.get("text", "") for m in messages)
    assert "随父亲还是随母亲" not in texts
    for _ in range(8):
        if of_type(messages, "checklist"):
            break
        messages = chat.say(choices(messages)[0]["title"])  # typed, not tapped
    checklist = of_type(messages, "checklist")[0]
    names = [m["name"] for m in checklist["materials"]]
    assert "父母的结婚证" not in names
    assert any("非婚生育" in n for n in names)
    assert any(m["deferrable"] for m in checklist["materials"])  # 容缺


def test_interruption_why_then_resume_then_stop(chat: Chat) -> None:
    messages = chat.say("新生儿出生一件事怎么办")
    messages = chat.tap(payload_with(messages, '"all"'))
    question = of_type(messages, "choices")[-1]["text"]
    messages = chat.say("为什么要结婚证")
    texts = [m["text"] for m in messages if "text" in m]
    assert any("结婚证" in t and "免" in t for t in texts), messages  # explained, with its 免
    assert of_type(messages, "choices")[-1]["text"] == question  # and back to the same question
    messages = chat.say("算了")
    assert any("停" in m.get("text", "") for m in messages)
    messages = chat.say("开饭店要办啥证")
    assert "开办餐饮店一件事" in messages[0]["text"]


def test_switch_to_another_matter_mid_flow(chat: Chat) -> None:
    messages = chat.say("我要办退休")
    chat.tap(payload_with(messages, '"all"'))
    messages = chat.say("换一个事项")
    assert of_type(messages, "choices"), messages
    messages = chat.tap(payload_with(messages, "school_enrollment"))
    assert "教育入学一件事" in messages[0]["text"]
    checklist = run_to_checklist(chat, messages, "school_enrollment")
    assert checklist["guide"]["id"] == "school_enrollment"


def test_a_switch_that_names_the_new_matter_starts_it_at_once(chat: Chat) -> None:
    messages = chat.say("我要办退休")
    chat.tap(payload_with(messages, '"all"'))
    messages = chat.say("换个事项，我要问孩子上学")  # switch_guide, naming the new matter
    assert "教育入学一件事" in messages[0]["text"], messages
    assert all(m["guide"]["id"] == "school_enrollment" for m in messages), messages
    checklist = run_to_checklist(chat, messages, "school_enrollment")
    assert checklist["guide"]["id"] == "school_enrollment"


def test_unclear_request_offers_closest_guides_not_a_dead_end(chat: Chat) -> None:
    messages = chat.say("我想问问那个证的事")
    options = choices(messages)
    assert 2 <= len(options) <= 6
    assert all("payload" in o for o in options)


def test_bad_input_keeps_the_conversation(chat: Chat) -> None:
    messages = chat.say("退休一件事")
    chat.tap(payload_with(messages, '"all"'))
    assert chat.raw({"user_id": chat.user_id, "text": ""}).status_code == 422
    assert chat.raw({"user_id": chat.user_id, "text": "啊" * 10_000}).status_code == 422
    assert chat.raw({"user_id": chat.user_id, "payload": "/drop_tables"}).status_code == 400
    assert chat.raw({"text": "你好"}).status_code == 422
    response = chat.client.post(chat.url, content=b"not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]
    messages = chat.say("😀😀😀")
    assert "没听明白" in messages[0]["text"]  # a clear reply, never a 500, and the question again
    # The flow survived all of it: answering still leads to the checklist of the same guide.
    for _ in range(10):
        if of_type(messages, "checklist"):
            break
        messages = chat.tap(choices(messages)[0]["payload"])
    assert of_type(messages, "checklist")[0]["guide"]["id"] == "retirement"


def test_conversation_state_lives_in_redis_with_expiry(stack, chat: Chat) -> None:
    import redis

    chat.say("你好")
    store = redis.Redis.from_url(stack.redis_url)
    key = f"{stack.key_prefix}:tracker:{chat.user_id}"
    assert store.exists(key), "the Rasa tracker store is not Redis"
    assert 0 < store.ttl(key) <= 30 * 24 * 3600  # record expiry is set


def test_a_guide_added_at_run_time_is_found_without_retraining(stack, chat: Chat) -> None:
    import time

    import yaml

    guide = yaml.safe_load((stack.guides_dir / "newborn.yml").read_text(encoding="utf-8"))
    guide.update(
        id="dog_registration", title="犬只登记一件事", aliases=["养犬登记", "办狗证", "给狗上户口"],
        keywords=["养狗", "犬只", "狗证"], audience="个人",
    )
    (stack.guides_dir / "dog_registration.yml").write_text(yaml.safe_dump(guide, allow_unicode=True), "utf-8")
    time.sleep(1.5)  # every process re-reads guides/ at most once a second
    messages = chat.say("俺家想办狗证")
    assert "犬只登记一件事" in messages[0]["text"], messages
    assert messages[0]["guide"]["id"] == "dog_registration"
