"""Tests of the WeChat fakes: they must agree with wechatpy, or tests built on them prove nothing.

The fake API is driven by a real wechatpy WeChatClient; the simulator's requests are checked by a
small reference receiver that uses only wechatpy (check_signature, WeChatCrypto, parse_message,
create_reply), served on loopback like the bot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from wechatpy import WeChatClient, create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.utils import check_signature

from tests.fakes import FakeWeChatAPI, MalformedReply, ServedApp, WeChatSimulator
from tests.fakes.wechat_sim import billion_laughs_xml, external_entity_xml, oversized_xml

APPID, SECRET = "wx_test_app", "s3cret"
MINI_APPID, MINI_SECRET = "wx_test_mini", "mini-s3cret"
TOKEN = "test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars, as WeChat issues EncodingAESKey
OPENID = "o_user_1"


class FakeBackedClient(WeChatClient):
    """wechatpy's client aimed at the fake; only the hard-coded token URL needs overriding."""

    def __init__(self, base: str, appid: str = APPID, secret: str = SECRET) -> None:
        super().__init__(appid, secret)
        self.base = base
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{base}/"

    def fetch_access_token(self) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        return self._fetch_access_token(url=f"{self.base}/cgi-bin/token", params=params)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChatAPI]:
    with FakeWeChatAPI({APPID: SECRET, MINI_APPID: MINI_SECRET}) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeWeChatAPI) -> None:
    fake.reset()
    fake.token_delay = 0.0


@pytest.fixture
def client(fake: FakeWeChatAPI) -> FakeBackedClient:
    return FakeBackedClient(fake.url)


# -- fake API ---------------------------------------------------------------------------------


def test_token_fetch_and_custom_send_are_recorded(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    assert client.message.send_text(OPENID, "您好，请携带身份证。") == {"errcode": 0, "errmsg": "ok"}
    assert fake.token_fetches(APPID) == 1
    [msg] = fake.sent()
    assert msg["kind"] == "custom" and msg["touser"] == OPENID and msg["content"] == "您好，请携带身份证。"
    assert msg["access_token"] == fake.current_token(APPID) == client.session.get(client.access_token_key)
    assert msg["payload"] == {"touser": OPENID, "msgtype": "text", "text": {"content": "您好，请携带身份证。"}}


def test_wrong_secret_and_unknown_app(fake: FakeWeChatAPI) -> None:
    with pytest.raises(WeChatClientException) as exc:
        FakeBackedClient(fake.url, secret="wrong").fetch_access_token()
    assert exc.value.errcode == 40125
    with pytest.raises(WeChatClientException) as exc:
        FakeBackedClient(fake.url, appid="wx_nobody").fetch_access_token()
    assert exc.value.errcode == 40013


def test_refresh_elsewhere_invalidates_token_and_wechatpy_refetches(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    client.message.send_text(OPENID, "one")
    FakeBackedClient(fake.url).fetch_access_token()  # another process refreshes: our token is no longer the latest
    client.message.send_text(OPENID, "two")
    assert fake.token_fetches(APPID) == 3
    assert [c["errcode"] for c in fake.calls() if c["path"].endswith("/custom/send")] == [0, 40001, 0]
    assert [m["content"] for m in fake.sent()] == ["one", "two"]
    assert fake.sent()[-1]["access_token"] == fake.current_token(APPID)


def test_expired_token_gives_42001_then_refetch(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    client.message.send_text(OPENID, "one")
    old = fake.current_token(APPID)
    fake.expire_tokens(APPID)
    body = httpx.post(f"{fake.url}/cgi-bin/message/custom/send", params={"access_token": old}, json={}).json()
    assert body["errcode"] == 42001
    client.message.send_text(OPENID, "two")  # wechatpy sees 42001, refetches, retries
    assert fake.token_fetches(APPID) == 2 and fake.current_token(APPID) != old
    assert httpx.post(f"{fake.url}/cgi-bin/message/custom/send", json={}).json()["errcode"] == 41001


def test_text_limit_is_2048_utf8_bytes(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    client.message.send_text(OPENID, "办" * 682 + "ab")  # 2048 bytes
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_text(OPENID, "办" * 683)  # 2049 bytes
    assert exc.value.errcode == 45002
    assert len(fake.sent()) == 1


def test_failure_injection_per_openid_and_kind(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    fake.fail_next(OPENID, -1, times=2)
    fake.fail_next("o_other", 43101, kind="subscribe")
    for _ in range(2):
        with pytest.raises(WeChatClientException) as exc:
            client.message.send_text(OPENID, "hi")
        assert exc.value.errcode == -1
    client.message.send_text(OPENID, "hi")
    client.message.send_text("o_other", "custom sends are not affected")
    with pytest.raises(WeChatClientException) as exc:
        client.message.send_subscribe_message("o_other", "TPL_SUB", {"thing1": {"value": "x"}})
    assert exc.value.errcode == 43101
    assert [(m["kind"], m["touser"]) for m in fake.sent()] == [("custom", OPENID), ("custom", "o_other")]


def test_template_and_subscribe_sends(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    data = {"first": {"value": "您的诉求已受理"}, "keyword1": {"value": "T-001"}}
    result = client.message.send_template(OPENID, "TPL_1", data, url="https://example.test/t/1")
    assert result["errcode"] == 0 and isinstance(result["msgid"], int)
    client.message.send_subscribe_message(OPENID, "TPL_BIZ", {"thing1": {"value": "政策"}})
    mini = FakeBackedClient(fake.url, MINI_APPID, MINI_SECRET)
    mini.wxa.send_subscribe_message(OPENID, "TPL_MINI", {"thing1": {"value": "办结"}}, page="pages/ticket")
    kinds = [(m["kind"], m["path"], m["payload"]["template_id"]) for m in fake.sent()]
    assert kinds == [("template", "/cgi-bin/message/template/send", "TPL_1"),
                     ("subscribe", "/cgi-bin/message/subscribe/bizsend", "TPL_BIZ"),
                     ("subscribe", "/cgi-bin/message/subscribe/send", "TPL_MINI")]
    assert fake.sent("template")[0]["msgid"] == result["msgid"]
    assert fake.sent()[2]["appid"] == MINI_APPID


def test_code2session_codes_are_single_use(fake: FakeWeChatAPI) -> None:
    mini = FakeBackedClient(fake.url, MINI_APPID, MINI_SECRET)
    fake.add_login_code("code-1", "o_mini_1", unionid="u_1")
    session = mini.wxa.code_to_session("code-1")
    assert session["openid"] == "o_mini_1" and session["unionid"] == "u_1" and session["session_key"]
    for code, errcode in (("code-1", 40163), ("nope", 40029)):
        with pytest.raises(WeChatClientException) as exc:
            mini.wxa.code_to_session(code)
        assert exc.value.errcode == errcode


def test_token_delay_exposes_concurrent_refreshes(fake: FakeWeChatAPI) -> None:
    fake.token_delay = 0.3
    threads = [threading.Thread(target=FakeBackedClient(fake.url).fetch_access_token) for _ in range(3)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start >= 0.3
    assert fake.token_fetches(APPID) == 3 and fake.token_fetch_peak(APPID) == 3


def test_wait_for_and_http_inspection(fake: FakeWeChatAPI, client: FakeBackedClient) -> None:
    client.fetch_access_token()
    threading.Timer(0.2, client.message.send_text, (OPENID, "later")).start()
    [msg] = fake.wait_for(lambda m: m["content"] == "later", timeout=5)
    assert httpx.get(f"{fake.url}/_fake/sent").json() == [msg]
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda m: m["content"] == "never", timeout=0.1)
    fake.reset()
    assert fake.sent() == [] and fake.token_fetches(APPID) == 0


# -- simulator ----------------------------------------------------------------------------------


class Receiver:
    """A reference endpoint built only from wechatpy, standing in for the bot."""

    def __init__(self, aes_key: str | None) -> None:
        self.crypto = WeChatCrypto(TOKEN, aes_key, APPID) if aes_key else None
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.messages: list[Any] = []
        self.delays: list[float] = []  # per call, in order; then no delay
        self.reply: str | None = None
        self.app = FastAPI()
        self.app.get("/wechat")(self.verify)
        self.app.post("/wechat")(self.receive)

    async def verify(self, request: Request) -> Response:
        q = request.query_params
        try:
            check_signature(TOKEN, q["signature"], q["timestamp"], q["nonce"])
        except InvalidSignatureException:
            return Response(status_code=403)
        return PlainTextResponse(q["echostr"])

    async def receive(self, request: Request) -> Response:
        q, body = dict(request.query_params), await request.body()
        self.requests.append((q, body))
        try:
            check_signature(TOKEN, q["signature"], q["timestamp"], q["nonce"])
            xml = self.crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"]) if self.crypto else body
        except InvalidSignatureException:
            return Response(status_code=403)
        message = parse_message(xml)
        self.messages.append(message)
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        if self.reply is None:
            return PlainTextResponse("success")
        rendered = create_reply(self.reply, message).render()
        if self.crypto:
            rendered = self.crypto.encrypt_message(rendered, q["nonce"], q["timestamp"])
        return Response(rendered, media_type="text/xml")


@pytest.fixture(params=[None, AES_KEY], ids=["plain", "safe"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[Receiver, WeChatSimulator]]:
    receiver = Receiver(request.param)
    with ServedApp(receiver.app) as served, WeChatSimulator(served.url, TOKEN, APPID, request.param) as sim:
        yield receiver, sim


def test_signatures_and_encryption_pass_wechatpy() -> None:
    plain = WeChatSimulator("http://127.0.0.1:1", TOKEN, APPID)
    req = plain.build_request(plain.text_xml(OPENID, "你好"))
    q = req.url.params
    check_signature(TOKEN, q["signature"], q["timestamp"], q["nonce"])
    assert q["openid"] == OPENID and "encrypt_type" not in q
    assert parse_message(req.content).content == "你好"

    safe = WeChatSimulator("http://127.0.0.1:1", TOKEN, APPID, AES_KEY)
    req = safe.build_request(safe.text_xml(OPENID, "你好"))
    q = req.url.params
    check_signature(TOKEN, q["signature"], q["timestamp"], q["nonce"])
    assert q["encrypt_type"] == "aes"
    inner = WeChatCrypto(TOKEN, AES_KEY, APPID).decrypt_message(req.content, q["msg_signature"], q["timestamp"], q["nonce"])
    assert parse_message(inner).content == "你好"
    assert b"gh_test" in req.content and "你好".encode() not in req.content
    bad = safe.build_request(safe.text_xml(OPENID, "x"), bad_signature=True).url.params
    with pytest.raises(InvalidSignatureException):
        check_signature(TOKEN, bad["signature"], bad["timestamp"], bad["nonce"])


def test_message_builders_parse_as_wechat_messages() -> None:
    sim = WeChatSimulator("http://127.0.0.1:1", TOKEN, APPID)
    text = parse_message(sim.text_xml(OPENID, "a]]>b", msg_id=42))
    assert (text.type, text.content, text.id, text.source, text.target) == ("text", "a]]>b", 42, OPENID, "gh_test")
    assert parse_message(sim.voice_xml(OPENID, "我要退休")).recognition == "我要退休"
    assert parse_message(sim.image_xml(OPENID)).type == "image"
    loc = parse_message(sim.location_xml(OPENID, 34.5, 113.5, label="郑州"))
    assert (float(loc.location_x), float(loc.location_y), loc.label) == (34.5, 113.5, "郑州")
    assert parse_message(sim.subscribe_xml(OPENID)).event == "subscribe"
    assert parse_message(sim.subscribe_xml(OPENID, event_key="qrscene_7", ticket="T")).scene_id == "7"
    assert parse_message(sim.unsubscribe_xml(OPENID)).event == "unsubscribe"
    click = parse_message(sim.click_xml(OPENID, "MENU_GUIDES"))
    assert (click.event, click.key) == ("click", "MENU_GUIDES")


def test_round_trip_and_passive_reply(endpoint: tuple[Receiver, WeChatSimulator]) -> None:
    receiver, sim = endpoint
    response = sim.post(sim.text_xml(OPENID, "开办餐饮店"))
    assert response.status_code == 200 and sim.reply_text(response) is None
    assert receiver.messages[-1].content == "开办餐饮店"
    receiver.reply = "请准备：营业执照（免）"
    assert sim.reply_text(sim.post(sim.text_xml(OPENID, "材料"))) == "请准备：营业执照（免）"
    assert sim.post(sim.text_xml(OPENID, "x"), bad_signature=True).status_code == 403


def test_reply_checks_reject_what_wechat_rejects(endpoint: tuple[Receiver, WeChatSimulator]) -> None:
    receiver, sim = endpoint
    receiver.reply = "ok"
    good = sim.post(sim.text_xml(OPENID, "x"))
    request = good.request
    with pytest.raises(MalformedReply):
        sim.reply_text(httpx.Response(500, request=request))
    with pytest.raises(MalformedReply):
        sim.reply_text(httpx.Response(200, text="<html>oops</html>", request=request))
    wrong_user = create_reply("hi", parse_message(sim.text_xml("o_someone_else", "x"))).render()
    if sim.crypto:
        wrong_user = sim.crypto.encrypt_message(wrong_user, "1", "2")
    with pytest.raises(MalformedReply):
        sim.reply_text(httpx.Response(200, text=wrong_user, request=request))
    if sim.crypto:  # a plaintext or tampered reply is rejected in safe mode
        with pytest.raises(MalformedReply):
            sim.reply_text(httpx.Response(200, text=create_reply("hi", receiver.messages[-1]).render(), request=request))
        with pytest.raises(MalformedReply):
            sim.reply_text(httpx.Response(200, text=good.text.replace("<Nonce><![CDATA[", "<Nonce><![CDATA[9"), request=request))


def test_deliver_retries_the_same_request_on_timeout(endpoint: tuple[Receiver, WeChatSimulator]) -> None:
    receiver, sim = endpoint
    receiver.delays = [0.6, 0.6]
    receiver.reply = "已收到"
    result = sim.deliver(sim.text_xml(OPENID, "慢"), timeout=0.3)
    assert [t.outcome for t in result.tries] == ["timeout", "timeout", "response"]
    assert result.delivered and result.tries[-1].status == 200 and sim.reply_text(result.response) == "已收到"
    time.sleep(0.5)  # let the abandoned handlers record their requests
    assert len(receiver.requests) == 3 and len({(tuple(sorted(q.items())), b) for q, b in receiver.requests}) == 1

    receiver.delays = [0.6] * 3
    result = sim.deliver(sim.text_xml(OPENID, "太慢"), timeout=0.2)
    assert [t.outcome for t in result.tries] == ["timeout"] * 3 and not result.delivered and result.response is None


def test_verify_url(endpoint: tuple[Receiver, WeChatSimulator]) -> None:
    _, sim = endpoint
    assert sim.verify_url("echo-123").text == "echo-123"
    assert sim.verify_url("echo-123", bad_signature=True).status_code == 403


def test_hostile_bodies(endpoint: tuple[Receiver, WeChatSimulator]) -> None:
    receiver, sim = endpoint
    for xml in (billion_laughs_xml(), external_entity_xml()):
        assert "<!DOCTYPE" in xml and "<!ENTITY" in xml
        with pytest.raises(ValueError):  # xmltodict (under wechatpy) refuses entity declarations
            parse_message(xml)
        req = sim.build_request(xml, encrypt=False)
        assert req.content == xml.encode() and req.url.params["openid"] == ""
    big = oversized_xml(1 << 20)
    assert len(big) > 1 << 20 and parse_message(big).source == "o_attacker"
    sim.post(big, timeout=10)
    assert len(receiver.requests[-1][1]) > 1 << 20
