"""Enterprises written directly for the matching, binding and API tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from bot.policies.models import Enterprise, EnterpriseList
from bot.policies.uscc import with_check_digit
from bot.store.models import utcnow

BASE: dict[str, Any] = {
    "entity_type": "有限责任公司", "scale": "小型", "industry": "C3425", "region": "410522",
    "established_on": date(2015, 6, 1), "abnormal_operation": False, "insured_count": 25, "ui_paid_months": 26,
    "layoff_rate": Decimal("3.20"), "new_jobs_last_year": 3, "graduates_hired": 2, "revenue_last_year": Decimal("1800"),
    "tax_paid_last_year": Decimal("60"), "taxpayer_type": "一般纳税人", "small_low_profit": True, "tax_credit_rating": "B",
    "high_tech_certified_on": None, "tech_sme": False, "srdi_level": None, "owner_group": None, "dishonest": False,
}


def add(engine: Engine, n: int, name: str, lists: tuple[str, ...] = (), **values: Any) -> str:
    code = with_check_digit(f"9141052{n:010d}")
    now = utcnow()
    with engine.begin() as conn:
        eid = conn.execute(insert(Enterprise.__table__).values(
            uscc=code, name=name, contact_phone="+8613800138000", imported_at=now, updated_at=now, **{**BASE, **values},
        ).returning(Enterprise.__table__.c.id)).scalar_one()
        for c in lists:
            conn.execute(insert(EnterpriseList.__table__).values(enterprise_id=eid, list_code=c))
    return code
