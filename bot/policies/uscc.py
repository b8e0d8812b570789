"""统一社会信用代码 (GB 32100-2015): normalize, validate with a Chinese reason, and make valid ones.

The check digit arithmetic is python-stdnum's (``stdnum.cn.uscc``, maintained, with the standard's
test vectors); this module only words the reasons for the people who import data or bind a company.
"""

from __future__ import annotations

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, Z, S, V


class InvalidUSCC(ValueError):
    """A code that is not a valid 统一社会信用代码; ``str()`` is the reason in Chinese."""


def normalize(code: str) -> str:
    """Upper case, without spaces and hyphens (how people copy it from a licence)."""
    return _uscc.compact(code)


def validate(code: str) -> str:
    """The normalized code, or InvalidUSCC saying what is wrong with it."""
    if not isinstance(code, str) or not code.strip():
        raise InvalidUSCC("统一社会信用代码不能为空")
    compact = normalize(code)
    try:
        return str(_uscc.validate(compact))
    except InvalidLength as exc:
        raise InvalidUSCC(f"统一社会信用代码应为18位，这里是 {len(compact)} 位") from exc
    except InvalidFormat as exc:
        bad = sorted({c for c in compact if c not in ALPHABET})
        if bad:
            raise InvalidUSCC(f"统一社会信用代码含有不允许的字符：{'、'.join(bad)}（不使用 I、O、Z、S、V）") from exc
        raise InvalidUSCC("统一社会信用代码格式不对：第3至8位应为数字（登记管理机关行政区划码）") from exc
    except InvalidChecksum as exc:
        expected = _uscc.calc_check_digit(compact[:17])
        raise InvalidUSCC(f"统一社会信用代码校验位不对：第18位应为 {expected}，可能有字抄错了") from exc
    except (InvalidComponent, ValidationError) as exc:
        raise InvalidUSCC("统一社会信用代码无效") from exc


def is_valid(code: str) -> bool:
    try:
        validate(code)
    except InvalidUSCC:
        return False
    return True


def with_check_digit(first17: str) -> str:
    """A full code from its first 17 characters (synthetic data and tests)."""
    return first17 + _uscc.calc_check_digit(first17)
