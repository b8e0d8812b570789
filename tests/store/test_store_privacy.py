"""mask(): ids, phone numbers and ID-card numbers are never logged in full."""

from __future__ import annotations

import pytest

from bot.store.privacy import mask


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("19912345678", "199****5678"),
        ("+8613812345678", "+86138****5678"),
        ("86 13812345678", "86 138****5678"),
        ("110101199003071234", "110101********1234"),
        ("11010119900307123X", "110101********123X"),
        ("11010119900307123x", "110101********123x"),
        ("110101900307123", "110101*****7123"),  # old 15-digit number
        ("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "oUpF****eS6o"),  # WeChat openid
        ("Ab3dE5gH9jK1mN0p", "Ab****0p"),  # a notice id
        ("web-7f3a9c", "w****c"),
        ("abc", "****"),
        ("", "-"),
        ("   ", "-"),
        (None, "-"),
        (12345678901, "1****1"),  # not a mobile number (starts with 12): masked as an id
    ],
)
def test_mask(value: object, masked: str) -> None:
    assert mask(value) == masked


@pytest.mark.parametrize(
    "value",
    ["13812345678", "110101199003071234", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "user-42@example.org", "Ab3dE5gH9jK1mN0p"],
)
def test_mask_hides_most_of_the_value(value: str) -> None:
    out = mask(value)
    assert value not in out
    assert "****" in out
    shown = len(out.replace("*", ""))
    assert shown <= max(7, len(value) * 2 // 3)
