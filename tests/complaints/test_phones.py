"""Contact numbers: what is accepted, how it is stored, how it is masked."""

from __future__ import annotations

import pytest

from bot.complaints.phones import InvalidPhone, masked, national, normalize_phone
from bot.store.privacy import mask


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),
        ("0373-5551234", "+863735551234"),
        ("(0371)65551234", "+8637165551234"),
        ("010-87654321", "+861087654321"),
        (None, None),
        ("", None),
        ("   ", None),
    ],
)
def test_valid(raw: str | None, e164: str | None) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    ["12345", "1381234567", "138123456789", "23812345678", "+1 650 253 0000", "+852 9123 4567", "400-800-1234", "95588",
     "abc", "1" * 40, "0373-12"],
)
def test_invalid(raw: str) -> None:
    with pytest.raises(InvalidPhone) as exc:
        normalize_phone(raw)
    assert "联系电话格式不对" in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_display_and_masking() -> None:
    assert national("+8613812345678") == "13812345678"
    assert national("+863735551234") == "0373-5551234"
    assert national("+861087654321") == "010-87654321"
    assert masked("+8613812345678") == "138****5678"
    assert masked("+863735551234") == "0373-****34"
    assert masked("+861087654321") == "010-****21"
    assert masked(None) is None
    assert mask("0373-5551234") == "0373-****34"
    assert mask("03735551234") == "0373-****34"
