"""Realistic synthetic enterprise profiles for tests, demos and benchmarks.

Proportions follow the shape of Henan's market entities (个体工商户 about seven in ten, most
companies 微型 or 小型, few 高新技术企业 and fewer 专精特新), each with a valid 统一社会信用代码.
Some values are left out on purpose, as in real shared data. Deterministic for a given seed.

``python -m bot enterprises generate N --out FILE`` writes a CSV or JSON Lines import file;
``bulk_insert`` puts rows straight into the database (executemany on SQLite, COPY on PostgreSQL).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from bot.complaints.calendar import beijing_today
from bot.policies import uscc
from bot.policies.enterprises import BASE_COLUMNS
from bot.policies.fields import FIELDS
from bot.policies.models import Enterprise, EnterpriseList
from bot.store.models import utcnow

ENTERPRISES = Enterprise.__table__
LISTS = EnterpriseList.__table__

# 行政区划 of some Henan districts and counties, with the name used in 字号.
REGIONS = (
    ("410102", "郑州"), ("410105", "郑州"), ("410122", "中牟"), ("410302", "洛阳"), ("410311", "洛阳"),
    ("410502", "安阳"), ("410522", "安阳"), ("410526", "滑县"), ("410702", "新乡"), ("410811", "焦作"),
    ("410823", "武陟"), ("411002", "许昌"), ("411102", "漯河"), ("411302", "南阳"), ("411502", "信阳"),
    ("411602", "周口"), ("411702", "驻马店"), ("410402", "平顶山"), ("410902", "濮阳"), ("411202", "三门峡"),
)
# (国民经济行业分类 code, what the business is called) for companies and for 个体工商户.
COMPANY_INDUSTRIES = (
    ("C1391", "食品"), ("C1761", "纺织"), ("C2927", "塑料制品"), ("C3011", "建材"), ("C3311", "金属结构"),
    ("C3425", "机械"), ("C3512", "矿山机械"), ("C3811", "电机"), ("C3971", "电子元件"), ("C4011", "仪器仪表"),
    ("E4813", "建设工程"), ("F5137", "商贸"), ("G5443", "物流"), ("I6510", "软件"), ("I6450", "网络科技"),
    ("L7212", "企业管理咨询"), ("M7320", "科技"), ("A0190", "农业开发"), ("H6110", "酒店管理"), ("K7020", "物业服务"),
)
SHOP_INDUSTRIES = (
    ("F5211", "便利店"), ("F5212", "超市"), ("H6210", "饭店"), ("H6291", "小吃店"), ("O8010", "理发店"),
    ("F5261", "服装店"), ("O8111", "汽车修理部"), ("F5271", "五金店"), ("H6231", "奶茶店"), ("A0511", "农机服务部"),
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红玉兰志宏鹏飞浩然子轩梓涵一诺欣怡晨阳"
_BRANDS = "豫鼎恒信华诚瑞丰宏达中原嵩岳黄河金穗鑫盛博远腾飞安泰民生聚源永兴天成汇通卓越新程锦程"

_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
                    "157", "158", "159", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189")

LIST_SRDI = "henan_srdi_2026"
LIST_GAZELLE = "henan_gazelle_2026"

COLUMNS: tuple[str, ...] = ("uscc", "name", "legal_rep", "contact_phone", "data_as_of", *(f.name for f in FIELDS))


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _code(rng: random.Random, kind: str, region: str) -> str:
    body = "".join(rng.choice(uscc.ALPHABET) for _ in range(9))
    return uscc.with_check_digit(kind + region + body)


def _days_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days)))


def profile(rng: random.Random, today: date) -> tuple[dict[str, Any], list[str]]:
    """One synthetic record (column -> value) and its list memberships."""
    region, place = rng.choice(REGIONS)
    entity_type = _pick(rng, (
        ("个体工商户", 70), ("有限责任公司", 24), ("股份有限公司", 0.8), ("个人独资企业", 2), ("合伙企业", 1),
        ("农民专业合作社", 2), ("外商投资企业", 0.2),
    ))
    shop = entity_type == "个体工商户"
    if shop:
        scale = _pick(rng, (("微型", 96), ("小型", 4)))
        industry, business = rng.choice(SHOP_INDUSTRIES)
        code = _code(rng, "92", region)
        name = f"{place}市{rng.choice(_BRANDS)}{rng.choice(_BRANDS)}{business}"
    else:
        scale = _pick(rng, (("微型", 60), ("小型", 29), ("中型", 9), ("大型", 2))) if entity_type in (
            "有限责任公司", "股份有限公司", "外商投资企业") else _pick(rng, (("微型", 85), ("小型", 15)))
        industry, business = rng.choice(COMPANY_INDUSTRIES)
        code = _code(rng, "93" if entity_type == "农民专业合作社" else "91", region)
        suffix = {"股份有限公司": "股份有限公司", "合伙企业": "（有限合伙）", "个人独资企业": "经营部",
                  "农民专业合作社": "专业合作社"}.get(entity_type, "有限公司")
        name = f"河南{rng.choice(_BRANDS)}{rng.choice(_BRANDS)}{business}{suffix}"
    age_days = int(rng.expovariate(1 / (365 * 6)))
    established = max(date(1993, 1, 1), today - timedelta(days=min(age_days, 365 * 33)))
    staff_range = {"微型": (0, 9), "小型": (10, 99), "中型": (100, 299), "大型": (300, 5000)}[scale]
    insured = rng.randint(*staff_range) if not shop else _pick(rng, ((0, 55), (1, 25), (2, 12), (3, 5), (5, 3)))
    months_open = max(0, (today - established).days // 30)
    ui_months = min(months_open, rng.randint(0, 120)) if insured else 0
    layoff = Decimal(0) if rng.random() < 0.55 else Decimal(rng.randint(1, 3000)) / 100
    revenue_base = {"微型": 80, "小型": 1200, "中型": 15000, "大型": 120000}[scale]
    revenue = (Decimal(str(round(rng.lognormvariate(0, 0.8) * revenue_base, 2)))).quantize(Decimal("0.01"))
    tech = not shop and industry[0] in "CIM"
    high_tech = _days_between(rng, date(2020, 1, 1), today) if tech and rng.random() < 0.08 else None
    srdi = None
    if not shop and scale != "大型" and rng.random() < 0.03:
        srdi = _pick(rng, (("创新型中小企业", 70), ("省级专精特新", 25), ("国家级专精特新小巨人", 5)))
    record: dict[str, Any] = {
        "uscc": code,
        "name": name,
        "legal_rep": _person(rng),
        "contact_phone": f"+86{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**8):08d}",
        "data_as_of": today,
        "entity_type": entity_type,
        "scale": scale,
        "industry": industry,
        "region": region,
        "established_on": established,
        "abnormal_operation": rng.random() < 0.04,
        "insured_count": insured,
        "ui_paid_months": ui_months,
        "layoff_rate": layoff if insured else Decimal(0),
        "new_jobs_last_year": rng.randint(0, max(1, insured // 5)) if insured else 0,
        "graduates_hired": _pick(rng, ((0, 85), (1, 9), (2, 4), (5, 2))) if insured else 0,
        "revenue_last_year": revenue,
        "tax_paid_last_year": (revenue * Decimal(str(round(rng.uniform(0.005, 0.06), 4)))).quantize(Decimal("0.01")),
        "taxpayer_type": "小规模纳税人" if scale == "微型" or (scale == "小型" and rng.random() < 0.5) else "一般纳税人",
        "small_low_profit": (not shop) and scale in ("小型", "微型") and rng.random() < 0.7,
        "tax_credit_rating": _pick(rng, (("A", 12), ("B", 48), ("M", 30), ("C", 7), ("D", 3))),
        "high_tech_certified_on": high_tech,
        "tech_sme": tech and rng.random() < 0.15,
        "srdi_level": srdi,
        "owner_group": _pick(rng, (("退役军人", 3), ("脱贫人口", 5), ("登记失业人员", 4), ("高校毕业生", 6), ("其他", 82)))
        if shop else None,
        "dishonest": rng.random() < 0.01,
    }
    # Shared data is never complete: about one value in forty is missing.
    for key in ("insured_count", "ui_paid_months", "layoff_rate", "tax_credit_rating", "revenue_last_year", "industry"):
        if rng.random() < 0.025:
            record[key] = None
    lists = []
    if srdi in ("省级专精特新", "国家级专精特新小巨人") and rng.random() < 0.5:
        lists.append(LIST_SRDI)
    if tech and rng.random() < 0.01:
        lists.append(LIST_GAZELLE)
    return record, lists


def generate(count: int, seed: int = 1, today: date | None = None) -> Iterator[tuple[dict[str, Any], list[str]]]:
    rng = random.Random(seed)
    today = today or beijing_today()
    seen: set[str] = set()
    made = 0
    while made < count:
        record, lists = profile(rng, today)
        if record["uscc"] in seen:  # 9 random characters: a clash is rare, but the key must be unique
            continue
        seen.add(record["uscc"])
        made += 1
        yield record, lists


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def write_file(path: Path, count: int, seed: int = 1, today: date | None = None) -> int:
    """An import file (.csv with Chinese headers, or .jsonl) of ``count`` synthetic profiles."""
    if path.suffix.lower() == ".jsonl":
        with path.open("w", encoding="utf-8") as out:
            for record, lists in generate(count, seed, today):
                row = {k: (v if isinstance(v, bool | int) or v is None else str(v)) for k, v in record.items()}
                out.write(json.dumps({**row, "lists": lists}, ensure_ascii=False) + "\n")
        return count
    labels = {**BASE_COLUMNS, **{f.name: f.label for f in FIELDS}}
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([labels[c] for c in (*COLUMNS, "lists")])
        for record, lists in generate(count, seed, today):
            writer.writerow([_text(record[c]) for c in COLUMNS] + [";".join(lists)])
    return count


def bulk_insert(engine: Engine, count: int, seed: int = 1, today: date | None = None, batch: int = 20_000) -> int:
    """Insert ``count`` synthetic profiles straight into ``enterprises`` (fresh codes only).

    PostgreSQL: COPY (the fastest way in); SQLite: executemany in large transactions.
    """
    now = utcnow()
    rows: list[dict[str, Any]] = []
    members: list[tuple[str, str]] = []

    def flush() -> None:
        if not rows:
            return
        if engine.dialect.name == "postgresql":
            columns = [*COLUMNS, "imported_at", "updated_at"]
            raw = engine.raw_connection()
            try:
                copy_sql = f"COPY enterprises ({', '.join(columns)}) FROM STDIN"
                with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
                raw.commit()
            finally:
                raw.close()
        else:
            with engine.begin() as conn:
                conn.execute(insert(ENTERPRISES), rows)
        if members:
            with engine.begin() as conn:
                ids = dict(conn.execute(
                    select(ENTERPRISES.c.uscc, ENTERPRISES.c.id).where(ENTERPRISES.c.uscc.in_({u for u, _ in members}))
                ).all())
                conn.execute(insert(LISTS), [{"enterprise_id": ids[u], "list_code": c} for u, c in members])
        rows.clear()
        members.clear()

    for record, lists in generate(count, seed, today):
        rows.append({**record, "imported_at": now, "updated_at": now})
        members.extend((record["uscc"], c) for c in lists)
        if len(rows) >= batch:
            flush()
    flush()
    return count
