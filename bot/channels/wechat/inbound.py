"""What WeChat's server sends us, checked before anything is processed.

Order matters: size, then signature and clock (cheap, and nothing unauthenticated is parsed),
then defusedxml refuses DTDs and entities before wechatpy (xmltodict) parses the XML, then the
safe-mode envelope is decrypted by wechatpy and its content checked the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

log = logging.getLogger(__name__)


class Rejected(Exception):
    """The request is refused with an HTTP status; nothing of it was processed."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class Inbound:
    message: Any  # a wechatpy message or event
    openid: str
    dedupe_key: str
    encrypted: bool
    nonce: str
    timestamp: str


def _check_xml(body: bytes | str) -> None:
    """Refuse DTDs, entity declarations and external references; refuse what is not XML."""
    try:
        defusedxml.ElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise Rejected(400, "XML 中不允许 DTD 或实体声明") from exc
    except (ParseError, ValueError) as exc:
        raise Rejected(400, "XML 格式错误") from exc


def dedupe_key(message: Any) -> str:
    """WeChat retries with the same MsgId; events have none, so sender and CreateTime stand in."""
    if message.type == "event" or not message.id:
        return f"event:{message.source}:{message.time}"
    return f"msg:{message.id}"


class InboundVerifier:
    def __init__(
        self,
        token: str,
        app_id: str | None,
        aes_key: str | None,
        max_skew_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.max_skew_seconds = max_skew_seconds
        self.clock = clock

    def _authenticate(self, query: Mapping[str, str]) -> tuple[str, str]:
        signature, timestamp, nonce = query.get("signature"), query.get("timestamp"), query.get("nonce")
        if not (signature and timestamp and nonce):
            raise Rejected(403, "缺少签名参数")
        try:
            sent_at = int(timestamp)
        except ValueError as exc:
            raise Rejected(403, "时间戳无效") from exc
        if abs(self.clock() - sent_at) > self.max_skew_seconds:
            # A captured request replayed later is refused even with a valid signature.
            raise Rejected(403, "时间戳超出允许范围")
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException as exc:
            raise Rejected(403, "签名错误") from exc
        return timestamp, nonce

    def verify_url(self, query: Mapping[str, str]) -> str:
        """WeChat's server-configuration check: echo echostr when the signature holds."""
        self._authenticate(query)
        echostr = query.get("echostr")
        if not echostr:
            raise Rejected(400, "缺少 echostr")
        return echostr

    def open(self, query: Mapping[str, str], body: bytes) -> Inbound:
        timestamp, nonce = self._authenticate(query)
        _check_xml(body)
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if self.crypto is not None and not encrypted:
            # In safe mode the body is authenticated only through the encryption: plain is refused.
            raise Rejected(403, "安全模式下只接受加密消息")
        xml: bytes | str = body
        if encrypted:
            if self.crypto is None:
                raise Rejected(400, "未配置消息加解密密钥")
            msg_signature = query.get("msg_signature")
            if not msg_signature:
                raise Rejected(403, "缺少 msg_signature")
            try:
                xml = self.crypto.decrypt_message(body, msg_signature, timestamp, nonce)
            except (InvalidSignatureException, InvalidAppIdException) as exc:
                raise Rejected(403, "消息签名错误") from exc
            except Exception as exc:  # wechatpy raises KeyError, ValueError, binascii errors on a bad envelope
                raise Rejected(400, "加密消息格式错误") from exc
            _check_xml(xml)
        try:
            message = parse_message(xml)
        except Exception as exc:  # xmltodict and wechatpy raise several types on malformed content
            raise Rejected(400, "消息格式错误") from exc
        if message is None or not getattr(message, "source", None):
            raise Rejected(400, "消息缺少发送者")
        return Inbound(message, message.source, dedupe_key(message), encrypted, nonce, timestamp)
