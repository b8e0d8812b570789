"""统一社会信用代码 (GB 32100-2015): published codes pass, every kind of mistake is named in Chinese."""

from __future__ import annotations

import pytest

from bot.policies import uscc

# Codes as published on the enterprises' own licences (国家企业信用信息公示系统).
PUBLISHED = (
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91330100799655058B",  # 阿里巴巴（中国）有限公司
    "91110108551385082Q",  # 北京小米科技有限责任公司
)


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    assert uscc.validate(code) == code
    assert uscc.with_check_digit(code[:17]) == code


def test_spaces_and_lower_case_are_normalized() -> None:
    assert uscc.validate(" 9144 0300 7084 6113 6t ") == "91440300708461136T"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91440300708461136U", "第18位应为 T"),
        ("914403007084611", "应为18位"),
        ("91440300708461I36T", "不允许的字符：I"),
        ("", "不能为空"),
    ],
)
def test_invalid_codes_say_why(code: str, reason: str) -> None:
    with pytest.raises(uscc.InvalidUSCC, match=reason):
        uscc.validate(code)


def test_every_single_character_change_is_caught() -> None:
    code = PUBLISHED[1]
    for i in range(18):
        for c in uscc.ALPHABET:
            if c != code[i]:
                assert not uscc.is_valid(code[:i] + c + code[i + 1:]), (i, c)
