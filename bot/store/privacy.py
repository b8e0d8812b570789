"""Masking for logs: a user id, phone number or ID-card number never reaches a log line in full.

    >>> mask("13812345678")
    '138****5678'
    >>> mask("110101199003071234")
    '110101********1234'
    >>> mask("0373-5551234")
    '0373-****34'
    >>> mask("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    'oUpF****eS6o'

Use it on every identifier that is logged: ``log.info("notice for %s", mask(user_id))``.
The result keeps just enough to tell two users apart in a log, never enough to contact anyone.
"""

from __future__ import annotations

import re

_MOBILE = re.compile(r"^(?P<cc>\+?86[- ]?)?(?P<num>1[3-9]\d{9})$")
_ID_18 = re.compile(r"^\d{17}[\dXx]$")  # 居民身份证号码
_ID_15 = re.compile(r"^\d{15}$")  # 一代身份证号码
_LANDLINE = re.compile(r"^(?P<area>0\d{2,3})[- ]?(?P<local>\d{7,8})$")  # 固定电话: 0373-5551234
_STARS = "****"


def mask(value: object) -> str:
    """A log-safe form of an identifier: 138****5678, 110101********1234, oUpF****eS6o.

    Mainland mobile numbers (optionally +86) keep the first 3 and last 4 digits; 18-digit (and old
    15-digit) ID-card numbers keep the first 6 (region) and last 4; anything else (openids, user
    ids, notice ids) keeps at most a third of its characters, with a fixed number of stars so the
    length is not given away. Landlines (0373-5551234) keep the area code and the last 2 digits.
    ``None`` or an empty value gives ``"-"``.
    """
    if value is None:
        return "-"
    text = str(value).strip()
    if not text:
        return "-"
    if match := _MOBILE.match(text):
        num = match["num"]
        return f"{match['cc'] or ''}{num[:3]}{_STARS}{num[-4:]}"
    if _ID_18.match(text):
        return f"{text[:6]}{'*' * 8}{text[-4:]}"
    if _ID_15.match(text):
        return f"{text[:6]}{'*' * 5}{text[-4:]}"
    if match := _LANDLINE.match(text):
        return f"{match['area']}-{_STARS}{match['local'][-2:]}"
    n = len(text)
    if n <= 6:
        return _STARS
    if n <= 12:
        return f"{text[0]}{_STARS}{text[-1]}"
    if n <= 24:
        return f"{text[:2]}{_STARS}{text[-2:]}"
    return f"{text[:4]}{_STARS}{text[-4:]}"
