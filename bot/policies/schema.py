"""The schema of a policy file (guides/policies/<id>.yml): 惠企政策 as data.

A policy says who issues it, which of the three kinds it is (名单类 ``list``, 条件类 ``condition``,
暂时难以数据化类 ``manual``), what it gives, when it is in force, and on which enterprise data it
is decided. Conditions are small trees (``all`` / ``any`` / ``not``) of comparisons on the fields
of the enterprise profile (bot/policies/fields.py); they are never strings to evaluate. The same
tree is compiled to SQL (conditions/compile.py) and evaluated in plain Python
(conditions/reference.py), and the two must agree.

Missing data is not a guess: a comparison on a field the profile does not have is false (and
``not`` of it true), in SQL and in Python alike. Write conditions positively (``dishonest equals
false``, not ``not dishonest equals true``) so that an enterprise with unknown data is not matched.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag, model_validator

from bot.guides.schema import LongText, ShortText, Slug
from bot.policies import fields as f

Kind = Literal["list", "condition", "manual"]
KIND_LABELS: dict[str, str] = {"list": "名单类", "condition": "条件类", "manual": "暂时难以数据化类"}
OPS: tuple[str, ...] = (
    "equals", "in", "gt", "ge", "lt", "le", "between", "prefix", "exists", "within_last_years", "at_least_years_ago",
)
_ORDERED = ("gt", "ge", "lt", "le", "between")
_DATE_SPANS = ("within_last_years", "at_least_years_ago")


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt key in a staff edit must not silently vanish.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _typed(field: f.Field, value: Any) -> Any:
    """``value`` as the field's Python type (Decimal for decimal fields), or ValueError in Chinese."""
    name = f"“{field.label}”（{field.name}）"
    if field.type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} 是是否类字段，取值应为 true 或 false，而不是 “{value}”")
        return value
    if field.type == "date":
        if not isinstance(value, date):
            raise ValueError(f"{name} 是日期字段，取值应写成 2026-01-01 这样的日期，而不是 “{value}”")
        return value
    if field.type in ("int", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError(f"{name} 是数值字段，取值应为数字，而不是 “{value}”")
        if field.type == "int" and (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{name} 是整数字段，取值应为整数，而不是 “{value}”")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:  # pragma: no cover (int and float always convert)
            raise ValueError(f"{name} 的取值 “{value}” 不是数字") from exc
        if field.type == "decimal" and number.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError(f"{name} 最多两位小数，“{value}” 太细了")
        if (field.minimum is not None and number < Decimal(str(field.minimum))) or (
            field.maximum is not None and number > Decimal(str(field.maximum))
        ):
            raise ValueError(f"{name} 的取值 “{value}” 超出范围（{field.minimum:g}–{field.maximum:g}{field.unit}）")
        return int(number) if field.type == "int" else number
    if not isinstance(value, str):
        raise ValueError(f"{name} 的取值应为文字，而不是 “{value}”")
    if field.type == "enum" and value not in field.choices:
        raise ValueError(f"{name} 没有取值 “{value}”（可选：{'、'.join(field.choices)}）")
    if field.type == "code" and not f.matches_pattern(field, value):
        raise ValueError(f"{name} 的代码 “{value}” 格式不对")
    return value


class FieldIs(_Strict):
    """One comparison on one field of the enterprise profile: exactly one operator."""

    field: Slug
    label: ShortText | None = None  # how the condition reads to an enterprise (“足额缴纳失业保险满12个月”)
    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in", min_length=1)
    gt: Any = None
    ge: Any = None
    lt: Any = None
    le: Any = None
    between: list[Any] | None = Field(default=None, min_length=2, max_length=2)  # inclusive at both ends
    prefix: list[Annotated[str, StringConstraints(min_length=1, max_length=6)]] | None = Field(default=None, min_length=1)
    exists: bool | None = None  # the data is present (true) or absent (false)
    within_last_years: int | None = Field(default=None, ge=1, le=100)  # a date in the last N years, up to today
    at_least_years_ago: int | None = Field(default=None, ge=0, le=100)  # a date N or more years ago

    @property
    def op(self) -> str:
        return next(op for op in OPS if self.raw(op) is not None)

    def raw(self, op: str) -> Any:
        return getattr(self, "in_" if op == "in" else op)

    @model_validator(mode="after")
    def _check(self) -> FieldIs:
        given = [op for op in OPS if self.raw(op) is not None]
        if len(given) != 1:
            raise ValueError(f"比较须且只能写一种：{'、'.join(OPS)}（现在写了 {len(given)} 种）")
        op = given[0]
        spec = f.field(self.field)
        if spec is None:
            raise ValueError(f"企业画像中没有字段 “{self.field}”（可用：{'、'.join(f.NAMES)}）")
        if op in _ORDERED and spec.type not in ("int", "decimal", "date"):
            raise ValueError(f"“{spec.label}” 不是数值或日期字段，不能用 {op} 比大小")
        if op == "prefix" and spec.type != "code":
            raise ValueError(f"只有代码类字段（行业代码、行政区划）能用 prefix，“{spec.label}” 不行")
        if op in _DATE_SPANS and spec.type != "date":
            raise ValueError(f"“{spec.label}” 不是日期字段，不能用 {op}")
        # Normalize once here so the compiler and the evaluator see the same typed operands.
        if op in ("equals", "gt", "ge", "lt", "le"):
            object.__setattr__(self, op, _typed(spec, self.raw(op)))
        elif op == "in":
            object.__setattr__(self, "in_", [_typed(spec, v) for v in self.in_ or []])
        elif op == "between":
            low, high = (_typed(spec, v) for v in self.between or [])
            if low > high:
                raise ValueError(f"between 的下限 {low} 大于上限 {high}")
            object.__setattr__(self, "between", [low, high])
        elif op == "prefix":
            for p in self.prefix or []:
                if not _prefix_ok(spec, p):
                    raise ValueError(f"“{spec.label}” 的代码前缀 “{p}” 格式不对")
        return self

    def operand(self) -> Any:
        return self.raw(self.op)


def _prefix_ok(spec: f.Field, prefix: str) -> bool:
    if spec.name == "industry":
        return prefix[0] in "ABCDEFGHIJKLMNOPQRST" and (prefix[1:].isdigit() or prefix[1:] == "")
    return prefix.isdigit() and prefix.startswith("41"[: len(prefix)])


class InList(_Strict):
    """名单类: the enterprise is on a named list published by a department (policy.list.code)."""

    in_list: Slug
    label: ShortText | None = None


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)
    label: ShortText | None = None


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)
    label: ShortText | None = None


class NotOf(_Strict):
    not_: Condition = Field(alias="not")
    label: ShortText | None = None


def _condition_tag(value: Any) -> str:
    # The tags contain "[" so that bot.guides.loader reads them as union members and leaves them out
    # of the location it maps to a line (its convention for pydantic's union tags).
    if isinstance(value, dict):
        for key in ("all", "any", "not", "in_list"):
            if key in value:
                return f"[{key}]"
    elif isinstance(value, BaseModel):
        return {AllOf: "[all]", AnyOf: "[any]", NotOf: "[not]", InList: "[in_list]"}.get(type(value), "[field]")
    return "[field]"


Condition = Annotated[
    Annotated[FieldIs, Tag("[field]")]
    | Annotated[InList, Tag("[in_list]")]
    | Annotated[AllOf, Tag("[all]")]
    | Annotated[AnyOf, Tag("[any]")]
    | Annotated[NotOf, Tag("[not]")],
    Discriminator(_condition_tag),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


# --- a policy ---------------------------------------------------------------------------------------


class Tier(_Strict):
    """One level of the benefit (“大型企业返还30%”), shown when ``when`` holds for the enterprise."""

    when: Condition
    text: ShortText


class Benefit(_Strict):
    summary: LongText  # what the enterprise gets
    tiers: list[Tier] = []
    max_amount: ShortText | None = None  # 上限, as the document words it


class DataNeed(_Strict):
    """A field the conditions use and where it comes from (数据共享需求 of the policy)."""

    field: Slug
    source: ShortText | None = None  # when it differs from the field's usual source
    note: str | None = None


class NamedList(_Strict):
    """名单类: the published list whose members enjoy the policy."""

    code: Slug
    name: ShortText
    published_by: ShortText


class Claim(_Strict):
    """What happens after 确认申领 (名单类 and 条件类)."""

    how: LongText
    time_limit_days: int | None = Field(default=None, ge=0, le=365)  # working days to pay out


class Apply(_Strict):
    """暂时难以数据化类: the simplified application (精简材料) and where to apply."""

    materials: list[ShortText] = Field(min_length=1)
    exempt_materials: list[ShortText] = []  # what used to be required and is now taken from shared data
    where: LongText
    online: ShortText | None = None  # 网上办理入口 (豫事办 / 河南政务服务网)
    phone: ShortText | None = None
    time_limit_days: int | None = Field(default=None, ge=0, le=365)


class Policy(_Strict):
    id: Slug
    title: ShortText
    short_title: ShortText | None = None
    sample_notice: ShortText | None = None  # “示例政策，待……确认”: shown until a department confirms it
    department: ShortText  # 发布（兑现）部门
    co_departments: list[ShortText] = []
    level: Literal["国家", "省级", "市级", "县级"] = "省级"
    kind: Kind
    basis: LongText  # 政策依据
    summary: LongText
    benefit: Benefit
    valid_from: date
    valid_until: date
    conditions: Condition
    data: list[DataNeed] = Field(min_length=1)
    named_list: NamedList | None = Field(default=None, alias="list")  # `list` would shadow the builtin here
    claim: Claim | None = None
    apply: Apply | None = None
    near_miss: bool | None = None  # report near misses (default: for 条件类 only)
    keywords: list[ShortText] = []  # how enterprises ask about it

    @model_validator(mode="after")
    def _kind_parts(self) -> Policy:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until（截止日期）早于 valid_from（起始日期）")
        if self.kind == "list" and self.named_list is None:
            raise ValueError("名单类政策（kind: list）须写 list：名单代码、名称和发布部门")
        if self.kind != "list" and self.named_list is not None:
            raise ValueError("只有名单类政策（kind: list）才写 list")
        if self.kind == "manual" and self.apply is None:
            raise ValueError("暂时难以数据化类政策（kind: manual）须写 apply：精简后的材料和办理地点")
        if self.kind != "manual" and self.claim is None:
            raise ValueError("名单类和条件类政策须写 claim：确认申领后如何兑现")
        return self

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def reports_near_misses(self) -> bool:
        return self.kind == "condition" if self.near_miss is None else self.near_miss

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on <= self.valid_until
