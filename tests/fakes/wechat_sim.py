"""A simulator of WeChat's server pushing user messages to our bot's endpoint, over real HTTP.

WeChat POSTs message XML to the configured URL with `signature`, `timestamp`, `nonce` and `openid`
in the query (plus `encrypt_type=aes` and `msg_signature` in safe mode), waits 5 s for a passive
reply and retries the same request up to 3 times in all when it gets none. The simulator does the
same, so tests can check signature checks, decryption, dedupe of retries (same MsgId) and the
5-second budget. The message bodies are plain test input built from WeChat's documented fields;
signatures and AES go through wechatpy, as they do in the bot.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.utils import WeChatSigner

TEXT_LIMIT_BYTES = 2048
Scalar = str | int | float


class MalformedReply(AssertionError):
    """The bot's passive reply is something WeChat would reject (the user would see an error)."""


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside one CDATA section; split it across two.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(fields: dict[str, Scalar | None]) -> str:
    """WeChat's push format: <xml> with one element per field, strings in CDATA, numbers bare; None skipped."""
    parts = [
        f"<{name}>{_cdata(value) if isinstance(value, str) else value}</{name}>"
        for name, value in fields.items()
        if value is not None
    ]
    return "<xml>" + "".join(parts) + "</xml>"


def billion_laughs_xml(openid: str = "o_attacker", account: str = "gh_test", depth: int = 9) -> str:
    """Exponential entity expansion (10**depth "lol"s); a safe parser must refuse the DTD."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, depth + 1)
    ]
    dtd = "<!DOCTYPE xml [" + "".join(entities) + "]>"
    return (
        f'<?xml version="1.0"?>{dtd}<xml><ToUserName>{_cdata(account)}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>'
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
        f"<Content>&lol{depth};</Content><MsgId>1</MsgId></xml>"
    )


def external_entity_xml(openid: str = "o_attacker", account: str = "gh_test", target: str = "file:///etc/passwd") -> str:
    """XXE: an external entity pointing at a local file (or URL); a safe parser must not resolve it."""
    return (
        f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "{target}">]>'
        f"<xml><ToUserName>{_cdata(account)}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
        f"<Content>&xxe;</Content><MsgId>2</MsgId></xml>"
    )


def oversized_xml(size: int = 1 << 20, openid: str = "o_attacker", account: str = "gh_test") -> str:
    """A well-formed text message of at least `size` bytes; the bot should cap request bodies."""
    return message_xml({"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
                        "MsgType": "text", "Content": "x" * size, "MsgId": 3})


@dataclass
class Try:
    """One HTTP attempt of a delivery."""

    outcome: Literal["response", "timeout", "error"]
    elapsed: float
    response: httpx.Response | None = None
    error: str | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None


@dataclass
class DeliveryResult:
    """What WeChat saw while delivering one message: each try, in order."""

    tries: list[Try] = field(default_factory=list)

    @property
    def response(self) -> httpx.Response | None:
        """The response that ended the delivery (None when every try timed out or failed)."""
        return self.tries[-1].response if self.tries else None

    @property
    def delivered(self) -> bool:
        """True when WeChat got an HTTP 200 in time; otherwise the user sees "该公众号暂时无法提供服务"."""
        return self.response is not None and self.response.status_code == 200


class WeChatSimulator:
    """Pushes messages to `base_url + path` as WeChat's server would for the account `account`.

    Plain mode when `aes_key` is None; safe mode (AES, `encrypt_type=aes`) otherwise. `http` lets
    tests pass a client (for example one bound to an ASGI app); else one is created and closed here.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        app_id: str,
        aes_key: str | None = None,
        http: httpx.Client | None = None,
        *,
        account: str = "gh_test",
        path: str = "/wechat",
    ) -> None:
        self.url = base_url.rstrip("/") + path
        self.token = token
        self.app_id = app_id
        self.account = account
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self._own_http = http is None
        self.http = http or httpx.Client()
        self._msg_ids = itertools.count(10**18 + secrets.randbelow(10**15))  # 64-bit-ish, unique per simulator

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- message bodies (WeChat's documented fields) ------------------------------------------

    def _message(self, openid: str, msg_type: str, fields: dict[str, Scalar | None], *, msg_id: int | None = None,
                 create_time: int | None = None, event: bool = False) -> str:
        head: dict[str, Scalar | None] = {"ToUserName": self.account, "FromUserName": openid,
                                          "CreateTime": create_time or int(time.time()), "MsgType": msg_type}
        tail: dict[str, Scalar | None] = {} if event else {"MsgId": msg_id if msg_id is not None else next(self._msg_ids)}
        return message_xml(head | fields | tail)

    def text_xml(self, openid: str, content: str, *, msg_id: int | None = None, create_time: int | None = None) -> str:
        return self._message(openid, "text", {"Content": content}, msg_id=msg_id, create_time=create_time)

    def voice_xml(self, openid: str, recognition: str, *, media_id: str = "media_voice_1", fmt: str = "amr",
                  msg_id: int | None = None, create_time: int | None = None) -> str:
        """Voice with speech recognition switched on: WeChat puts the transcript in <Recognition>."""
        fields: dict[str, Scalar | None] = {"MediaId": media_id, "Format": fmt, "Recognition": recognition}
        return self._message(openid, "voice", fields, msg_id=msg_id, create_time=create_time)

    def image_xml(self, openid: str, *, pic_url: str = "http://mmbiz.qpic.cn/test.jpg", media_id: str = "media_image_1",
                  msg_id: int | None = None, create_time: int | None = None) -> str:
        fields: dict[str, Scalar | None] = {"PicUrl": pic_url, "MediaId": media_id}
        return self._message(openid, "image", fields, msg_id=msg_id, create_time=create_time)

    def location_xml(self, openid: str, x: float = 34.7466, y: float = 113.6254, *, scale: int = 15,
                     label: str = "河南省郑州市金水区", msg_id: int | None = None, create_time: int | None = None) -> str:
        fields: dict[str, Scalar | None] = {"Location_X": x, "Location_Y": y, "Scale": scale, "Label": label}
        return self._message(openid, "location", fields, msg_id=msg_id, create_time=create_time)

    def subscribe_xml(self, openid: str, *, event_key: str | None = None, ticket: str | None = None,
                      create_time: int | None = None) -> str:
        """Follow event; with a QR scene WeChat sends EventKey "qrscene_<scene>" and a Ticket."""
        fields: dict[str, Scalar | None] = {"Event": "subscribe", "EventKey": event_key, "Ticket": ticket}
        return self._message(openid, "event", fields, create_time=create_time, event=True)

    def unsubscribe_xml(self, openid: str, *, create_time: int | None = None) -> str:
        return self._message(openid, "event", {"Event": "unsubscribe"}, create_time=create_time, event=True)

    def click_xml(self, openid: str, key: str, *, create_time: int | None = None) -> str:
        """Custom-menu click: EventKey is the menu button's key."""
        return self._message(openid, "event", {"Event": "CLICK", "EventKey": key}, create_time=create_time, event=True)

    # -- sending ------------------------------------------------------------------------------

    def signature(self, timestamp: str, nonce: str) -> str:
        """The plain `signature` query parameter: sha1 of sorted [token, timestamp, nonce]."""
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        return signer.signature

    def build_request(
        self,
        xml: str | bytes,
        *,
        openid: str | None = None,
        timestamp: str | None = None,
        nonce: str | None = None,
        bad_signature: bool = False,
        encrypt: bool | None = None,
        timeout: float = 5.0,
    ) -> httpx.Request:
        """The request WeChat would send for `xml`; reused as-is by `deliver` for retries.

        encrypt=None encrypts in safe mode; encrypt=False sends `xml` raw even in safe mode (hostile
        outer envelopes), with a msg_signature that cannot match.
        """
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
        params: dict[str, str] = {"signature": self.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                                  "openid": openid if openid is not None else _from_user(text)}
        body = xml.encode("utf-8") if isinstance(xml, str) else xml
        if self.crypto is not None:
            params["encrypt_type"] = "aes"
            if encrypt is False:
                params["msg_signature"] = "0" * 40
            else:
                packed = xmltodict.parse(self.crypto.encrypt_message(text, nonce, timestamp))["xml"]
                params["msg_signature"] = packed["MsgSignature"]
                envelope = f"<xml><ToUserName>{_cdata(self.account)}</ToUserName><Encrypt>{_cdata(packed['Encrypt'])}</Encrypt>"
                body = (envelope + "</xml>").encode("utf-8")
        if bad_signature:
            params = {k: ("0" * 40 if k in ("signature", "msg_signature") else v) for k, v in params.items()}
        return self.http.build_request("POST", self.url, params=params, content=body,
                                       headers={"Content-Type": "text/xml"}, timeout=timeout)

    def post(
        self,
        xml: str | bytes,
        *,
        openid: str | None = None,
        timestamp: str | None = None,
        nonce: str | None = None,
        bad_signature: bool = False,
        encrypt: bool | None = None,
        timeout: float = 5.0,
    ) -> httpx.Response:
        """One POST, no retry. `openid` defaults to the message's FromUserName."""
        request = self.build_request(xml, openid=openid, timestamp=timestamp, nonce=nonce,
                                     bad_signature=bad_signature, encrypt=encrypt, timeout=timeout)
        return self.http.send(request)

    def deliver(self, message_xml: str, tries: int = 3, timeout: float = 5.0, **kwargs: Any) -> DeliveryResult:
        """Deliver like WeChat: up to `tries` sends of the very same request, retrying only when no
        response came within `timeout` (or the connection failed). Any HTTP response ends it.
        """
        request = self.build_request(message_xml, timeout=timeout, **kwargs)
        result = DeliveryResult()
        for _ in range(tries):
            start = time.monotonic()
            try:
                response = self.http.send(request)
            except httpx.TimeoutException as exc:
                result.tries.append(Try("timeout", time.monotonic() - start, error=repr(exc)))
                continue
            except httpx.TransportError as exc:
                result.tries.append(Try("error", time.monotonic() - start, error=repr(exc)))
                continue
            result.tries.append(Try("response", time.monotonic() - start, response=response))
            break
        return result

    def verify_url(self, echostr: str, *, timestamp: str | None = None, nonce: str | None = None,
                   bad_signature: bool = False, timeout: float = 5.0) -> httpx.Response:
        """The GET WeChat sends when the URL is configured; the bot must echo `echostr` back."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        signature = "0" * 40 if bad_signature else self.signature(timestamp, nonce)
        params = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
        return self.http.get(self.url, params=params, timeout=timeout)

    # -- passive replies ----------------------------------------------------------------------

    def reply_message(self, response: httpx.Response) -> BaseMessage | None:
        """The bot's passive reply as a wechatpy message, None for "success" or an empty body.

        Checks what WeChat checks: HTTP 200, encrypted and correctly signed in safe mode, addressed
        from our account to the user who wrote. Raises MalformedReply otherwise.
        """
        if response.status_code != 200:
            raise MalformedReply(f"HTTP {response.status_code}: {response.text[:200]!r}")
        body = response.text.strip()
        if body in ("", "success"):
            return None
        try:
            outer = xmltodict.parse(body)["xml"]
        except Exception as exc:
            raise MalformedReply(f"reply is not XML: {body[:200]!r}") from exc
        if self.crypto is not None:
            try:
                inner = self.crypto.decrypt_message(outer, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
            except (KeyError, TypeError) as exc:
                raise MalformedReply(f"safe-mode reply lacks Encrypt/MsgSignature/TimeStamp/Nonce: {body[:200]!r}") from exc
            except (InvalidSignatureException, InvalidAppIdException) as exc:
                raise MalformedReply(f"safe-mode reply fails verification: {exc}") from exc
        else:
            inner = body
        try:
            message = parse_message(inner)
        except Exception as exc:
            raise MalformedReply(f"reply is not a WeChat message: {inner[:200]!r}") from exc
        if message is None or message.type == "unknown":
            raise MalformedReply(f"reply has no known MsgType: {inner[:200]!r}")
        expected_to = response.request.url.params.get("openid")
        if message.source != self.account or (expected_to and message.target != expected_to):
            raise MalformedReply(f"reply goes from {message.source!r} to {message.target!r}, "
                                 f"expected from {self.account!r} to {expected_to!r}")
        return message

    def reply_text(self, response: httpx.Response) -> str | None:
        """Content of the bot's passive text reply (None when it replied "success" or nothing)."""
        message = self.reply_message(response)
        if message is None:
            return None
        if message.type != "text":
            raise MalformedReply(f"expected a text reply, got {message.type!r}")
        content: str = message.content or ""
        if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
            raise MalformedReply(f"text reply is {len(content.encode('utf-8'))} bytes, WeChat allows {TEXT_LIMIT_BYTES}")
        return content


def _from_user(xml: str) -> str:
    """FromUserName of a message, or "" for hostile or broken XML (xmltodict refuses entity declarations)."""
    try:
        return str(xmltodict.parse(xml)["xml"].get("FromUserName") or "")
    except Exception:
        return ""
