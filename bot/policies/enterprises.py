"""One enterprise profile record of the shared-data export, checked field by field.

Import files (CSV or JSON, see README.md “企业画像导入”) name columns either by field name
(``insured_count``) or by its Chinese label (``参保人数``). Every value is parsed from text or JSON
into the field's type and checked; a record with any bad value is rejected whole, with every reason,
so that a half-right profile never decides who gets money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bot.complaints.phones import InvalidPhone, normalize_phone
from bot.policies import fields as f
from bot.policies import uscc

# Columns that are not condition fields.
BASE_COLUMNS: dict[str, str] = {
    "uscc": "统一社会信用代码",
    "name": "名称",
    "legal_rep": "法定代表人",
    "contact_phone": "联系电话",
    "data_as_of": "数据日期",
    "lists": "所在名单",
}
REQUIRED = ("uscc", "name")
COLUMNS: tuple[str, ...] = (*BASE_COLUMNS, *f.NAMES)
# Header (field name or Chinese label, as written) -> field name.
HEADER_NAMES: dict[str, str] = {
    **{k: k for k in BASE_COLUMNS},
    **{v: k for k, v in BASE_COLUMNS.items()},
    **{x.name: x.name for x in f.FIELDS},
    **{x.label: x.name for x in f.FIELDS},
}
LABELS: dict[str, str] = {**BASE_COLUMNS, **{x.name: x.label for x in f.FIELDS}}
_TRUE = {"true", "1", "是", "y", "yes", "t"}
_FALSE = {"false", "0", "否", "n", "no", "f"}
_LIST_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_CENT = Decimal("0.01")


@dataclass
class Profile:
    """A checked record: ``values`` holds every column given (None for an empty cell)."""

    uscc: str
    name: str
    values: dict[str, Any]
    lists: list[str] | None = None  # None: the file has no list column, memberships stay as they are


@dataclass
class Rejected:
    row: int  # the 1-based record number (CSV: the line, counting the header)
    uscc: str | None
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        who = f"（{self.uscc}）" if self.uscc else ""
        return f"第 {self.row} 行{who}：{'；'.join(self.reasons)}"


def canonical_header(header: str) -> str | None:
    return HEADER_NAMES.get(header.strip().lstrip("\ufeff"))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"“{text}” 不是日期（应写成 2026-01-31）")


def parse_value(spec: f.Field, value: Any, today: date) -> Any:
    """``value`` (text from CSV, or a JSON value) as the field's type; ValueError in Chinese."""
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"“{value}” 应为 是/否（或 true/false、1/0）")
    if spec.type == "date":
        day = parse_date(value)
        if day > today:
            raise ValueError(f"{day.isoformat()} 晚于今天")
        if day.year < 1949:
            raise ValueError(f"{day.isoformat()} 太早了")
        return day
    if spec.type in ("int", "decimal"):
        if isinstance(value, bool):
            raise ValueError(f"“{value}” 不是数字")
        text = str(value).strip().replace(",", "").removesuffix(spec.unit) if spec.unit else str(value).strip().replace(",", "")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"“{value}” 不是数字") from exc
        if not number.is_finite():
            raise ValueError(f"“{value}” 不是数字")
        if spec.type == "int":
            if number != number.to_integral_value():
                raise ValueError(f"“{value}” 应为整数")
            number = number.to_integral_value()
        else:
            number = number.quantize(_CENT, rounding=ROUND_HALF_UP)  # stored to the cent (0.01)
        if (spec.minimum is not None and number < Decimal(str(spec.minimum))) or (
            spec.maximum is not None and number > Decimal(str(spec.maximum))
        ):
            raise ValueError(f"{value} 超出合理范围（{spec.minimum:g}–{spec.maximum:g}{spec.unit}）")
        return int(number) if spec.type == "int" else number
    text = str(value).strip()
    if spec.type == "code":
        text = text.upper()
        if not f.matches_pattern(spec, text):
            what = "国民经济行业分类代码（如 C3011）" if spec.name == "industry" else "河南省行政区划代码（41 开头的6位数字）"
            raise ValueError(f"“{value}” 不是{what}")
        return text
    if text not in spec.choices:
        raise ValueError(f"“{text}” 不在可选值中（{'、'.join(spec.choices)}）")
    return text


def parse_lists(value: Any) -> list[str]:
    items = value if isinstance(value, list) else re.split(r"[;；,，\s]+", str(value))
    codes = [str(i).strip() for i in items if str(i).strip()]
    bad = [c for c in codes if not _LIST_CODE.match(c) or len(c) > 64]
    if bad:
        raise ValueError(f"名单代码 “{bad[0]}” 格式不对（小写字母、数字和下划线）")
    return list(dict.fromkeys(codes))


def check_record(record: dict[str, Any], row: int, today: date) -> Profile | Rejected:
    """Parse one record (keys already canonical field names). Unknown keys are the caller's to report."""
    reasons: list[str] = []
    code = record.get("uscc")
    normalized: str | None = None
    if _blank(code):
        reasons.append("缺少统一社会信用代码")
    else:
        try:
            normalized = uscc.validate(str(code))
        except uscc.InvalidUSCC as exc:
            reasons.append(str(exc))
    name = str(record.get("name") or "").strip()
    if not name:
        reasons.append("缺少名称")
    elif len(name) > 200:
        reasons.append("名称超过200字")
    values: dict[str, Any] = {}
    lists: list[str] | None = None
    for key, value in record.items():
        if key in ("uscc", "name"):
            continue
        label = LABELS.get(key, key)
        if key == "lists":
            try:
                lists = [] if _blank(value) else parse_lists(value)
            except ValueError as exc:
                reasons.append(f"{label}：{exc}")
            continue
        if _blank(value):
            values[key] = None
            continue
        try:
            if key == "legal_rep":
                values[key] = str(value).strip()[:50]
            elif key == "contact_phone":
                values[key] = normalize_phone(str(value))
            elif key == "data_as_of":
                values[key] = parse_date(value)
            else:
                values[key] = parse_value(f.BY_NAME[key], value, today)
        except InvalidPhone:
            reasons.append(f"{label}：“{value}” 不是有效的电话号码")
        except ValueError as exc:
            reasons.append(f"{label}：{exc}")
    if reasons:
        return Rejected(row, normalized or (str(code).strip()[:18] if not _blank(code) else None), reasons)
    assert normalized is not None
    return Profile(normalized, name, values, lists)
