"""InboundVerifier: what WeChat's server sends is checked (size aside) before anything is processed.

Requests are built exactly as WeChat builds them (WeChatSimulator.build_request, signed and encrypted
with wechatpy); their query parameters and body are fed to the verifier.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.channels.wechat import inbound as inbound_module
from bot.channels.wechat.inbound import InboundVerifier, Rejected
from tests.fakes.serve import ServedApp
from tests.fakes.wechat_sim import WeChatSimulator, billion_laughs_xml, external_entity_xml

TOKEN = "inbound_test_token"
APP_ID = "wx_inbound_test"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
NOW = 1_750_000_000
OPENID = "o_inbound_" + secrets.token_hex(4)


def _plain_sim() -> WeChatSimulator:
    return WeChatSimulator("http://wechat.invalid", TOKEN, APP_ID)


def _safe_sim() -> WeChatSimulator:
    return WeChatSimulator("http://wechat.invalid", TOKEN, APP_ID, AES_KEY)


def _parts(request: httpx.Request) -> tuple[dict[str, str], bytes]:
    return dict(request.url.params), request.content


def _verifier(aes_key: str | None = None, now: float = NOW) -> InboundVerifier:
    return InboundVerifier(TOKEN, APP_ID, aes_key, clock=lambda: now)


def _rejected(verifier: InboundVerifier, query: dict[str, str], body: bytes) -> Rejected:
    with pytest.raises(Rejected) as caught:
        verifier.open(query, body)
    return caught.value


@pytest.fixture
def parse_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records every call of wechatpy's parse_message made by the verifier."""
    calls: list[Any] = []
    real = inbound_module.parse_message

    def spy(xml: Any) -> Any:
        calls.append(xml)
        return real(xml)

    monkeypatch.setattr(inbound_module, "parse_message", spy)
    return calls


# --- accepted -----------------------------------------------------------------------------------


def test_plain_text_message_is_accepted() -> None:
    sim = _plain_sim()
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "新生儿出生怎么办", msg_id=4242), timestamp=str(NOW)))
    inbound = _verifier().open(query, body)
    assert inbound.message.type == "text" and inbound.message.content == "新生儿出生怎么办"
    assert inbound.openid == OPENID
    assert inbound.encrypted is False
    assert (inbound.timestamp, inbound.nonce) == (str(NOW), query["nonce"])
    assert inbound.dedupe_key == "msg:4242"


def test_safe_mode_message_is_decrypted() -> None:
    sim = _safe_sim()
    request = sim.build_request(sim.text_xml(OPENID, "开办餐饮店", msg_id=777), timestamp=str(NOW))
    query, body = _parts(request)
    assert "开办餐饮店".encode() not in body  # really encrypted on the wire
    inbound = _verifier(AES_KEY).open(query, body)
    assert inbound.encrypted is True
    assert inbound.message.content == "开办餐饮店" and inbound.openid == OPENID
    assert inbound.dedupe_key == "msg:777"


@pytest.mark.parametrize("skew", [-299, 0, 299])
def test_clock_skew_within_five_minutes_is_accepted(skew: int) -> None:
    sim = _plain_sim()
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "你好"), timestamp=str(NOW + skew)))
    assert _verifier().open(query, body).message.content == "你好"


def test_url_verification_echoes_echostr() -> None:
    sim = _plain_sim()
    nonce = "12345"
    query = {"signature": sim.signature(str(NOW), nonce), "timestamp": str(NOW), "nonce": nonce, "echostr": "echo-9"}
    assert _verifier().verify_url(query) == "echo-9"
    with pytest.raises(Rejected) as caught:
        _verifier().verify_url({**query, "signature": "0" * 40})
    assert caught.value.status_code == 403


# --- refused: authentication --------------------------------------------------------------------


@pytest.mark.parametrize("aes_key", [None, AES_KEY], ids=["plain", "safe"])
def test_bad_signature_is_403(aes_key: str | None, parse_spy: list[Any]) -> None:
    sim = _safe_sim() if aes_key else _plain_sim()
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "x"), timestamp=str(NOW), bad_signature=True))
    assert _rejected(_verifier(aes_key), query, body).status_code == 403
    assert parse_spy == []


def test_signature_of_another_token_is_403() -> None:
    other = WeChatSimulator("http://wechat.invalid", "someone_elses_token", APP_ID)
    query, body = _parts(other.build_request(other.text_xml(OPENID, "x"), timestamp=str(NOW)))
    assert _rejected(_verifier(), query, body).status_code == 403


@pytest.mark.parametrize("offset", [-301, -3600, 301, 86400], ids=["301s-old", "1h-old", "301s-ahead", "1d-ahead"])
def test_stale_or_future_timestamp_is_403_even_when_signed(offset: int, parse_spy: list[Any]) -> None:
    sim = _plain_sim()
    # The signature is valid for that timestamp: a captured request replayed later.
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "x"), timestamp=str(NOW + offset)))
    rejected = _rejected(_verifier(), query, body)
    assert rejected.status_code == 403 and "时间戳" in rejected.detail
    assert parse_spy == []


def test_non_numeric_timestamp_is_403() -> None:
    sim = _plain_sim()
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "x"), timestamp="yesterday"))
    assert _rejected(_verifier(), query, body).status_code == 403


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "all"])
def test_missing_parameters_are_403(missing: str) -> None:
    sim = _plain_sim()
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "x"), timestamp=str(NOW)))
    query = {} if missing == "all" else {k: v for k, v in query.items() if k != missing}
    assert _rejected(_verifier(), query, body).status_code == 403


def test_plain_body_is_refused_when_aes_is_configured(parse_spy: list[Any]) -> None:
    # Correctly signed (the signature covers only token, timestamp and nonce), but not encrypted:
    # in safe mode the body is authenticated only through the encryption.
    query, body = _parts(_plain_sim().build_request(_plain_sim().text_xml(OPENID, "x"), timestamp=str(NOW)))
    assert "encrypt_type" not in query
    assert _rejected(_verifier(AES_KEY), query, body).status_code == 403
    assert parse_spy == []


def test_bad_msg_signature_is_403(parse_spy: list[Any]) -> None:
    sim = _safe_sim()
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "x"), timestamp=str(NOW)))
    assert _verifier(AES_KEY).open(query, body).message.content == "x"  # the untampered request passes
    for bad in ({**query, "msg_signature": "0" * 40}, {k: v for k, v in query.items() if k != "msg_signature"}):
        assert _rejected(_verifier(AES_KEY), bad, body).status_code == 403
    assert len(parse_spy) == 1


def test_envelope_encrypted_for_another_app_is_refused() -> None:
    other = WeChatSimulator("http://wechat.invalid", TOKEN, "wx_some_other_app", AES_KEY)
    query, body = _parts(other.build_request(other.text_xml(OPENID, "x"), timestamp=str(NOW)))
    assert _rejected(_verifier(AES_KEY), query, body).status_code in (400, 403)


# --- refused: malformed and hostile XML ----------------------------------------------------------


@pytest.mark.parametrize("body", [b"<xml><ToUserName>gh_test</ToUserName>", b"not xml at all", b"", b"<xml></wrong>"],
                         ids=["truncated", "text", "empty", "mismatched"])
def test_malformed_xml_is_400(body: bytes, parse_spy: list[Any]) -> None:
    sim = _plain_sim()
    query, _ = _parts(sim.build_request(sim.text_xml(OPENID, "x"), timestamp=str(NOW)))
    assert _rejected(_verifier(), query, body).status_code == 400
    assert parse_spy == []


def test_malformed_xml_inside_a_valid_envelope_is_400(parse_spy: list[Any]) -> None:
    sim = _safe_sim()
    query, body = _parts(sim.build_request("<xml><Content>unterminated", openid=OPENID, timestamp=str(NOW)))
    assert _rejected(_verifier(AES_KEY), query, body).status_code == 400
    assert parse_spy == []


def test_message_without_sender_is_400() -> None:
    sim = _plain_sim()
    xml = "<xml><ToUserName>gh_test</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>"
    query, body = _parts(sim.build_request(xml, openid=OPENID, timestamp=str(NOW)))
    assert _rejected(_verifier(), query, body).status_code == 400


@pytest.mark.parametrize("mode", ["plain", "safe-outer", "safe-inner"])
def test_billion_laughs_is_400_and_never_expanded(mode: str, parse_spy: list[Any]) -> None:
    xml = billion_laughs_xml(openid=OPENID, depth=9)
    sim = _plain_sim() if mode == "plain" else _safe_sim()
    # safe-outer: the hostile XML is the envelope; safe-inner: it hides inside a validly encrypted envelope.
    request = sim.build_request(xml, openid=OPENID, timestamp=str(NOW), encrypt=False if mode == "safe-outer" else None)
    query, body = _parts(request)
    started = time.monotonic()
    rejected = _rejected(_verifier(None if mode == "plain" else AES_KEY), query, body)
    assert rejected.status_code == 400
    assert time.monotonic() - started < 1.0  # 10**9 "lol"s were not built
    assert parse_spy == []  # refused before wechatpy/xmltodict saw it


@pytest.mark.parametrize("mode", ["plain", "safe-outer", "safe-inner"])
def test_external_entity_is_400_and_never_resolved(mode: str, parse_spy: list[Any], tmp_path: Any) -> None:
    hits: list[str] = []

    async def record(request: Request) -> PlainTextResponse:
        hits.append(str(request.url))
        return PlainTextResponse("SECRET-FROM-THE-NETWORK")

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("SECRET-FROM-A-FILE", encoding="utf-8")
    verifier = _verifier(None if mode == "plain" else AES_KEY)
    sim = _plain_sim() if mode == "plain" else _safe_sim()
    with ServedApp(Starlette(routes=[Route("/xxe", record)])) as listener:
        for target in (f"{listener.url}/xxe", secret_file.as_uri()):
            xml = external_entity_xml(openid=OPENID, target=target)
            request = sim.build_request(xml, openid=OPENID, timestamp=str(NOW), encrypt=False if mode == "safe-outer" else None)
            query, body = _parts(request)
            assert _rejected(verifier, query, body).status_code == 400
    assert hits == []  # the external entity was never fetched
    assert parse_spy == []


# --- de-duplication key ----------------------------------------------------------------------------


def test_dedupe_key_of_a_message_is_its_msgid() -> None:
    sim = _plain_sim()
    verifier = _verifier()
    keys = set()
    for builder in (lambda: sim.text_xml(OPENID, "你好", msg_id=9001, create_time=NOW),
                    lambda: sim.text_xml(OPENID, "你好", msg_id=9001, create_time=NOW + 5),  # a retry: same MsgId
                    lambda: sim.voice_xml(OPENID, "你好", msg_id=9001, create_time=NOW)):
        query, body = _parts(sim.build_request(builder(), timestamp=str(NOW)))
        keys.add(verifier.open(query, body).dedupe_key)
    assert keys == {"msg:9001"}
    query, body = _parts(sim.build_request(sim.text_xml(OPENID, "你好", msg_id=9002, create_time=NOW), timestamp=str(NOW)))
    assert verifier.open(query, body).dedupe_key == "msg:9002"


def test_dedupe_key_of_an_event_is_sender_and_create_time() -> None:
    sim = _safe_sim()
    verifier = _verifier(AES_KEY)

    def key(xml: str) -> str:
        query, body = _parts(sim.build_request(xml, timestamp=str(NOW)))
        return verifier.open(query, body).dedupe_key

    subscribe = key(sim.subscribe_xml(OPENID, create_time=NOW - 3))
    assert subscribe == f"event:{OPENID}:{NOW - 3}"
    assert key(sim.subscribe_xml(OPENID, create_time=NOW - 3)) == subscribe  # WeChat's retry of the same event
    assert key(sim.click_xml(OPENID, "GUIDE", create_time=NOW - 2)) == f"event:{OPENID}:{NOW - 2}"
    assert key(sim.subscribe_xml("o_somebody_else", create_time=NOW - 3)) == f"event:o_somebody_else:{NOW - 3}"
