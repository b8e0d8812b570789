"""What a failed WeChat API call means for the caller: try again, give up, or nobody knows.

wechatpy raises WeChatClientException both for WeChat's errcodes and (with errcode None) for the
HTTP failures underneath; the requests exception is then the context. A connection that never
opened certainly sent nothing and may be retried; a read that timed out may have been delivered,
and WeChat has no idempotency key, so such a send must not be repeated (at most once).
"""

from __future__ import annotations

from enum import StrEnum

from requests import ConnectionError as RequestsConnectionError
from requests import ReadTimeout, RequestException
from wechatpy.exceptions import WeChatClientException

# Errors that will not go away by retrying: out of the 48-hour window, not following (any more),
# blocked, refused subscribe messages, bad openid / template, content too long, daily quota used up.
TERMINAL_ERRCODES = frozenset({40003, 40037, 43004, 43019, 43101, 45002, 45009, 45015, 45047, 47003})


class Failure(StrEnum):
    TRANSIENT = "transient"  # nothing was delivered; the same call may be tried again
    TERMINAL = "terminal"  # WeChat refused for good (the user, the template, the window)
    UNKNOWN = "unknown"  # the request may have reached WeChat: do not send again


def _cause(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or exc.__context__


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, WeChatClientException) and exc.errcode is not None:
        try:
            code = int(exc.errcode)
        except (TypeError, ValueError):
            return Failure.TRANSIENT
        return Failure.TERMINAL if code in TERMINAL_ERRCODES else Failure.TRANSIENT
    http = exc if isinstance(exc, RequestException) else _cause(exc)
    if isinstance(http, ReadTimeout):
        return Failure.UNKNOWN
    if isinstance(http, RequestsConnectionError):
        return Failure.TRANSIENT
    if isinstance(http, RequestException):
        # A response that came back (5xx, bad JSON): WeChat did not accept the message.
        return Failure.TRANSIENT if http.response is not None else Failure.UNKNOWN
    return Failure.UNKNOWN


def is_transient(exc: BaseException) -> bool:
    return classify(exc) is Failure.TRANSIENT
