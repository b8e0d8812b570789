"""The enterprise profile (企业画像): every field a policy condition may use, with its type and source.

This is the shape of the shared data (市场监管 / 税务 / 人社 / 科技 / 工信 / 信用 exports), not policy
content: policies name these fields in guides/policies/*.yml, the importer reads them, the SQL
compiler maps them to columns of ``enterprises`` and the reference evaluator to dict keys. A new
field means a new column (migration), a new entry here and a line in README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldType = Literal["enum", "code", "int", "decimal", "date", "bool"]


@dataclass(frozen=True)
class Field:
    name: str  # column name and the key in policy conditions and import files
    label: str  # Chinese name: import headers, lint messages and the reasons shown to enterprises
    type: FieldType
    source: str  # which department's shared data it comes from (数据共享需求)
    unit: str = ""  # shown after the value: 人、个月、%、万元
    choices: tuple[str, ...] = ()  # enum fields: the allowed values
    pattern: str | None = None  # code fields: what a value looks like
    minimum: float | None = None
    maximum: float | None = None


ENTITY_TYPES = ("有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "个体工商户", "农民专业合作社", "外商投资企业")
SCALES = ("大型", "中型", "小型", "微型")
TAXPAYER_TYPES = ("一般纳税人", "小规模纳税人")
TAX_CREDIT_RATINGS = ("A", "B", "M", "C", "D")
SRDI_LEVELS = ("创新型中小企业", "省级专精特新", "国家级专精特新小巨人")
OWNER_GROUPS = ("退役军人", "脱贫人口", "登记失业人员", "高校毕业生", "其他")

# GB/T 4754-2017 国民经济行业分类: a section letter, then 2-4 digits (大类, 中类, 小类).
INDUSTRY_PATTERN = r"^[A-T](\d{2}|\d{3}|\d{4})?$"
# GB/T 2260 行政区划代码 of Henan (41xxxx).
REGION_PATTERN = r"^41\d{4}$"

FIELDS: tuple[Field, ...] = (
    Field("entity_type", "市场主体类型", "enum", "市场监管部门登记数据", choices=ENTITY_TYPES),
    Field("scale", "企业规模", "enum", "统计部门划型（工信部联企业〔2011〕300号）", choices=SCALES),
    Field("industry", "行业代码", "code", "市场监管部门登记数据（国民经济行业分类）", pattern=INDUSTRY_PATTERN),
    Field("region", "注册地行政区划", "code", "市场监管部门登记数据", pattern=REGION_PATTERN),
    Field("established_on", "成立日期", "date", "市场监管部门登记数据"),
    Field("abnormal_operation", "列入经营异常名录", "bool", "市场监管部门信用公示数据"),
    Field("insured_count", "参保人数", "int", "人社部门社会保险参保数据", "人", minimum=0, maximum=1_000_000),
    Field("ui_paid_months", "失业保险连续足额缴费月数", "int", "人社部门失业保险缴费数据", "个月", minimum=0, maximum=600),
    Field("layoff_rate", "上年度裁员率", "decimal", "人社部门参保人数变动数据", "%", minimum=0, maximum=100),
    Field("new_jobs_last_year", "上年新增就业人数", "int", "人社部门就业登记数据", "人", minimum=0, maximum=1_000_000),
    Field("graduates_hired", "上年吸纳高校毕业生人数", "int", "人社部门就业登记数据", "人", minimum=0, maximum=1_000_000),
    Field("revenue_last_year", "上年营业收入", "decimal", "税务部门申报数据", "万元", minimum=0, maximum=1e10),
    Field("tax_paid_last_year", "上年纳税额", "decimal", "税务部门征收数据", "万元", minimum=0, maximum=1e10),
    Field("taxpayer_type", "增值税纳税人类型", "enum", "税务部门登记数据", choices=TAXPAYER_TYPES),
    Field("small_low_profit", "小型微利企业", "bool", "税务部门申报数据"),
    Field("tax_credit_rating", "纳税信用等级", "enum", "税务部门纳税信用评价", choices=TAX_CREDIT_RATINGS),
    Field("high_tech_certified_on", "高新技术企业认定日期", "date", "科技部门高新技术企业认定名单"),
    Field("tech_sme", "科技型中小企业（入库）", "bool", "科技部门科技型中小企业评价入库名单"),
    Field("srdi_level", "专精特新层级", "enum", "工信部门专精特新企业名单", choices=SRDI_LEVELS),
    Field("owner_group", "经营者身份", "enum", "人社、退役军人事务、乡村振兴部门数据", choices=OWNER_GROUPS),
    Field("dishonest", "列入严重失信主体名单", "bool", "信用中国（河南）失信联合惩戒数据"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)

_COMPILED = {f.name: re.compile(f.pattern) for f in FIELDS if f.pattern}


def field(name: str) -> Field | None:
    return BY_NAME.get(name)


def matches_pattern(f: Field, value: str) -> bool:
    return f.name not in _COMPILED or bool(_COMPILED[f.name].match(value))
