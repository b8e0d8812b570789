"""The HTTP API: chat request validation (422/400 in Chinese), Rasa down (503), guides, dialogue steps."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.channels import messages as m
from bot.channels.rasa import to_messages

CHAT = "/api/v1/chat"
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _detail(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"detail"}, body
    detail = body["detail"]
    assert isinstance(detail, str) and _CJK.search(detail), f"detail is not a Chinese sentence: {detail!r}"
    return detail


# --- 422: the request itself is wrong --------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t　"])  # the last one has a full-width space
def test_empty_or_blank_text_is_422(client: TestClient, text: str) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "text": text})
    assert response.status_code == 422
    assert "不能为空" in _detail(response)


def test_ten_kilobyte_text_is_422_too_long(client: TestClient) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "text": "办" * 10_000})
    assert response.status_code == 422
    detail = _detail(response)
    assert "太长" in detail and "10000" in detail


def test_text_at_the_limit_goes_through_to_rasa(client: TestClient) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "text": "办" * 500})
    assert response.status_code == 503  # accepted, then Rasa is down


def test_missing_user_id_is_422(client: TestClient) -> None:
    response = client.post(CHAT, json={"text": "宝宝出生"})
    assert response.status_code == 422
    detail = _detail(response)
    assert "user_id" in detail and "缺少" in detail


@pytest.mark.parametrize("user_id", ["", "有空 格", "a" * 129, "u1<script>"])
def test_bad_user_id_is_422(client: TestClient, user_id: str) -> None:
    response = client.post(CHAT, json={"user_id": user_id, "text": "宝宝出生"})
    assert response.status_code == 422
    assert "user_id" in _detail(response)


@pytest.mark.parametrize("body", [b"{not json", b'{"user_id": "u1",}', b'{"user_id": "u1", "text": "x"'])
def test_body_not_json_is_422(client: TestClient, body: bytes) -> None:
    response = client.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _detail(response) == "请求体不是有效的 JSON"


def test_body_not_utf8_is_422_in_chinese(client: TestClient) -> None:
    response = client.post(CHAT, content=b'{"user_id": "u1", "text": "\xff"}', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _detail(response) == "请求体不是有效的 JSON"


@pytest.mark.parametrize("body", [[1, 2], "宝宝出生", 42])
def test_body_not_an_object_is_422(client: TestClient, body: Any) -> None:
    response = client.post(CHAT, json=body)
    assert response.status_code == 422
    assert _detail(response) == "请求体应为 JSON 对象"


def test_empty_body_is_worded(client: TestClient) -> None:
    response = client.post(CHAT, content=b"", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _detail(response).strip() != "缺少"


def test_both_text_and_payload_is_422(client: TestClient) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "text": "你好", "payload": "/greet"})
    assert response.status_code == 422
    detail = _detail(response)
    assert "text" in detail and "payload" in detail and "其中之一" in detail


def test_neither_text_nor_payload_is_422(client: TestClient) -> None:
    response = client.post(CHAT, json={"user_id": "u1"})
    assert response.status_code == 422
    assert "其中之一" in _detail(response)


def test_text_of_wrong_type_is_422(client: TestClient) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "text": 123})
    assert response.status_code == 422
    assert "text" in _detail(response)


def test_overlong_payload_is_422(client: TestClient) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "payload": "/choose" + "x" * 700})
    assert response.status_code == 422
    assert "payload" in _detail(response)


# --- 400: a payload that is not a button of ours ---------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        '/hack{"guide_id": "newborn"}',  # not an intent of the domain
        "/hack",
        "/Choose",
        "choose",  # no slash
        '/choose{"choice": {"nested": "x"}}',  # nested JSON entities
        '/choose{"choice": ["a", "b"]}',
        '/choose{"choice": 1}',
        '/choose{"choice": "all"',  # truncated
        '/choose{"choice": "all"}{"x": "y"}',
        '/choose["all"]',
        '/choose{"choice": "' + "x" * 101 + '"}',  # entity value too long
        "/choose{not json}",
    ],
)
def test_unknown_or_malformed_payload_is_400(client: TestClient, payload: str) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "payload": payload})
    assert response.status_code == 400, response.text
    assert "无法识别的操作" in _detail(response)


@pytest.mark.parametrize("payload", ["/greet", '/choose{"choice": "all"}', '/ask_guide{"guide_id": "newborn"}', "/choose{}"])
def test_valid_payload_reaches_rasa(client: TestClient, payload: str) -> None:
    response = client.post(CHAT, json={"user_id": "u1", "payload": payload})
    assert response.status_code == 503  # passed validation; Rasa is down


# --- 503: Rasa is down, never 500 ------------------------------------------------------------


@pytest.mark.parametrize("text", ["宝宝出生了要办啥", "/restart", "{}", "\u0000"])
def test_rasa_down_is_503_in_chinese(client: TestClient, text: str) -> None:
    response = client.post(CHAT, json={"user_id": "wx-openid_1.2:3@x", "text": text})
    assert response.status_code == 503
    assert _detail(response) == "服务暂时繁忙，请稍后再试"


def test_rasa_http_error_is_503(client: TestClient, fake_rasa: Callable[..., list[Any]]) -> None:
    fake_rasa(lambda request: httpx.Response(500, text="boom"))
    response = client.post(CHAT, json={"user_id": "u1", "text": "你好"})
    assert response.status_code == 503
    assert "稍后再试" in _detail(response)


# --- with a fake Rasa: what is sent, what comes back ------------------------------------------


def test_typed_slash_text_is_never_sent_as_a_payload(client: TestClient, fake_rasa: Callable[..., list[Any]]) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=[{"text": "好的"}]))
    response = client.post(CHAT, json={"user_id": "u1", "text": '  /ask_guide{"guide_id": "newborn"}  '})
    assert response.status_code == 200
    assert sent == [{"sender": "u1", "message": 'ask_guide{"guide_id": "newborn"}', "metadata": {"channel": "web"}}]
    assert response.json() == {"messages": [{"type": "text", "text": "好的", "guide": None}]}


def test_payload_is_sent_as_is(client: TestClient, app: FastAPI, fake_rasa: Callable[..., list[Any]]) -> None:
    sent = fake_rasa(lambda request: httpx.Response(200, json=[]))
    response = client.post(CHAT, json={"user_id": "u1", "payload": ' /choose{"choice": "all"} '})
    assert response.status_code == 200
    assert sent == [{"sender": "u1", "message": '/choose{"choice": "all"}', "metadata": {"channel": "web"}}]
    # Rasa said nothing: the user still gets the fallback reply of guides/templates/replies.yml, with
    # the featured guides to tap (never a dead end).
    catalog = app.state.catalog_store.get()
    [message] = response.json()["messages"]
    assert message["type"] == "choices" and message["text"] == catalog.wording.render("fallback")
    assert [c["title"] for c in message["choices"]][:-1] == [g.title for g in catalog.featured()]


def test_rasa_messages_come_back_typed(client: TestClient, fake_rasa: Callable[..., list[Any]]) -> None:
    ref = {"id": "newborn", "title": "新生儿出生一件事"}
    fake_rasa(lambda request: httpx.Response(200, json=[
        {"recipient_id": "u1", "custom": {"type": "text", "text": "好的", "guide": ref}},
        {"recipient_id": "u1", "custom": {"type": "bogus"}},
        {"recipient_id": "u1", "text": "请选择", "buttons": [{"title": "全部", "payload": "/choose"}]},
    ]))
    response = client.post(CHAT, json={"user_id": "u1", "text": "宝宝出生"})
    assert response.status_code == 200
    assert response.json()["messages"] == [
        {"type": "text", "text": "好的", "guide": ref},
        {"type": "choices", "text": "请选择", "choices": [{"title": "全部", "payload": "/choose", "guide": None}], "guide": None,
         "numbered_text": False},
    ]


def test_rasa_answering_not_a_list(client: TestClient, fake_rasa: Callable[..., list[Any]]) -> None:
    fake_rasa(lambda request: httpx.Response(200, json={"error": "x"}))
    response = client.post(CHAT, json={"user_id": "u1", "text": "你好"})
    assert response.status_code == 200
    assert len(response.json()["messages"]) == 1


# --- other endpoints ----------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["guides"] == 21 and len(body["guides_version"]) == 12
    deep = client.get("/healthz", params={"deep": "true"})
    assert deep.status_code == 200 and deep.json()["rasa"] == "unavailable"


def test_chat_page_is_html(client: TestClient) -> None:
    response = client.get("/chat")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/chat"


def test_guides_list(client: TestClient) -> None:
    response = client.get("/api/v1/guides")
    assert response.status_code == 200
    body = response.json()
    guides = body["guides"]
    assert len(guides) == 21
    ids = [g["id"] for g in guides]
    assert len(set(ids)) == 21 and "newborn" in ids and "open_restaurant" in ids
    assert set(guides[0]) == {"id", "title", "audience", "lead_department", "summary", "time_limit_days"}
    assert body["version"] == client.get("/healthz").json()["guides_version"]


def test_guide_detail(client: TestClient) -> None:
    response = client.get("/api/v1/guides/newborn")
    assert response.status_code == 200
    guide = response.json()
    assert guide["id"] == "newborn" and guide["title"] == "新生儿出生一件事"
    assert guide["items"] and guide["materials"] and guide["questions"]


@pytest.mark.parametrize("guide_id", ["nope", "NEWBORN", "a" * 300, "新生儿"])
def test_unknown_guide_is_404_in_chinese(client: TestClient, guide_id: str) -> None:
    response = client.get(f"/api/v1/guides/{guide_id}")
    assert response.status_code == 404
    detail = _detail(response)
    assert detail.startswith("没有找到事项")
    assert len(detail) < 100  # the id is cut, not echoed whole


# --- /api/v1/dialogue: one short flow, as the action server calls it ---------------------------

FLOW_SLOTS = ("guide_id", "guide_items", "items_draft", "answers", "pending_question")


def _state(slots: dict[str, Any]) -> dict[str, Any]:
    """What the action server sends: the flow slots from the tracker."""
    state = {name: slots.get(name) for name in FLOW_SLOTS}
    state["answers"] = state["answers"] or {}
    return state


def _post(client: TestClient, step: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/dialogue/{step}", json=body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert set(reply) == {"messages", "slots"}
    return reply


def test_dialogue_short_flow(client: TestClient) -> None:
    ref = {"id": "newborn", "title": "新生儿出生一件事"}
    slots: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []

    def step(name: str, **body: Any) -> dict[str, Any]:
        reply = _post(client, name, body)
        seen.extend(reply["messages"])
        slots.update(reply["slots"])
        return reply

    reply = step("identify", text="宝宝刚出生要办啥")
    assert slots["guide_id"] == "newborn" and slots["guide_status"] == "found"

    reply = step("items/prompt", state=_state(slots))
    [prompt] = reply["messages"]
    some = next(c for c in prompt["choices"] if c["title"] == "只办其中几项")
    assert some["payload"] == '/choose{"choice": "some"}'

    step("items/interpret", state=_state(slots), choice="some")
    assert slots["items_draft"] == []
    step("items/interpret", state=_state(slots), choice="item:social_security_card")
    assert slots["items_draft"] == ["social_security_card"]
    step("items/interpret", state=_state(slots), choice="done")
    assert slots["guide_items"] == ["social_security_card"] and slots["guide_question"] == "done"

    reply = step("question/prompt", state=_state(slots))
    assert reply["messages"] == [] and reply["slots"]["guide_question"] == "done"

    reply = step("checklist", state=_state(slots))
    checklist, after = reply["messages"]
    assert checklist["type"] == "checklist" and after["type"] == "text"
    assert [i["id"] for i in checklist["items"]] == ["social_security_card"]
    stats = checklist["stats"]
    assert stats["total"] == len(checklist["materials"]) == stats["exempt"] + stats["to_submit"]
    assert reply["slots"]["last_items"] == ["social_security_card"]

    reply = step("explain", state=_state(slots), text="为什么要照片")
    assert "照片" in reply["messages"][0]["text"]

    assert all(message["guide"] == ref for message in seen), [msg.get("guide") for msg in seen]


def test_dialogue_question_turn_and_reply(client: TestClient) -> None:
    state = {"guide_id": "newborn", "guide_items": ["hukou_registration"], "answers": {}}
    reply = _post(client, "question/prompt", {"state": state})
    assert reply["slots"] == {"pending_question": "married"}
    reply = _post(client, "question/interpret", {"state": {**state, "pending_question": "married"}, "text": "没领证"})
    assert reply["slots"]["answers"] == {"married": "unmarried"}
    reply = _post(client, "reply", {"key": "greet"})
    assert reply["messages"][0]["type"] == "choices"


def test_dialogue_switch_starts_the_guide_named_or_asks(client: TestClient) -> None:
    state = {"guide_id": "newborn", "guide_items": ["hukou_registration"], "answers": {"married": "married"}}
    reply = _post(client, "switch", {"state": state, "text": "不办这个了，换成办退休的"})
    assert reply["slots"]["guide_id"] == "retirement" and reply["slots"]["guide_status"] == "found"
    reply = _post(client, "switch", {"state": state, "text": "换一个事项"})
    assert reply["slots"]["guide_id"] is None and reply["slots"]["guide_status"] is None
    response = client.post("/api/v1/dialogue/switch", json={"state": state, "text": "长" * 3000})
    assert response.status_code == 422


def test_dialogue_validation_errors_are_chinese(client: TestClient) -> None:
    response = client.post("/api/v1/dialogue/reply", json={"key": "rm -rf"})
    assert response.status_code == 422
    assert "key" in _detail(response)
    response = client.post("/api/v1/dialogue/identify", json={"text": "长" * 3000})
    assert response.status_code == 422
    assert "text" in _detail(response)


# --- to_messages on sample Rasa REST output ------------------------------------------------------


def test_to_messages_samples() -> None:
    ref = {"id": "newborn", "title": "新生儿出生一件事"}
    checklist = {
        "type": "checklist", "guide": ref, "items": [], "materials": [],
        "stats": {"total": 0, "exempt": 0, "to_submit": 0, "deferrable": 0}, "time_limit_days": 5,
        "where": {"window": "窗口", "address": "地址", "hours": "时间", "online": "线上"}, "fees": "不收费", "delivery": [],
    }
    output = [
        {"recipient_id": "u1", "custom": {"type": "text", "text": "您好", "guide": ref}},
        {"recipient_id": "u1", "custom": {"type": "choices", "text": "请选", "choices": [{"title": "全", "payload": "/choose"}]}},
        {"recipient_id": "u1", "custom": checklist},
        {"recipient_id": "u1", "text": "纯文字"},
        {"recipient_id": "u1", "text": "带按钮", "buttons": [{"title": "是", "payload": "/affirm"}, {"title": "否"}]},
        {"recipient_id": "u1", "custom": {"type": "text"}},  # malformed: no text
        {"recipient_id": "u1", "custom": {"type": "nonsense", "text": "x"}},  # unknown type
        {"recipient_id": "u1", "custom": "not a dict", "text": "退回到文字"},
        {"recipient_id": "u1", "image": "https://example.invalid/x.png"},  # nothing we render
        {"recipient_id": "u1", "text": ""},
    ]
    messages = to_messages(output)
    assert [type(x) for x in messages] == [
        m.TextMessage, m.ChoicesMessage, m.ChecklistMessage, m.TextMessage, m.ChoicesMessage, m.TextMessage,
    ]
    first, choices, check, plain, buttons, fallback = messages
    assert isinstance(first, m.TextMessage) and first.guide and first.guide.model_dump() == ref
    assert isinstance(choices, m.ChoicesMessage) and choices.choices[0].payload == "/choose"
    assert isinstance(check, m.ChecklistMessage) and check.guide.id == "newborn"
    assert isinstance(plain, m.TextMessage) and plain.text == "纯文字" and plain.guide is None
    assert isinstance(buttons, m.ChoicesMessage)
    assert [(c.title, c.payload) for c in buttons.choices] == [("是", "/affirm"), ("否", "")]
    assert isinstance(fallback, m.TextMessage) and fallback.text == "退回到文字"
    # The dump the chat API returns is plain JSON.
    assert json.loads(json.dumps(m.dump(messages)))[0] == {"type": "text", "text": "您好", "guide": ref}


def test_to_messages_empty() -> None:
    assert to_messages([]) == []


def test_text_of_only_slashes_is_empty_not_a_payload(client) -> None:
    response = client.post("/api/v1/chat", json={"user_id": "u1", "text": " /// "})
    assert response.status_code == 422
    assert "不能为空" in response.json()["detail"]
