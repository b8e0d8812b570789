"""Bound enterprises with current matches, for the policy push tests (in-process and worker processes)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.config import ROOT
from bot.policies.catalog import PolicyCatalog, build_policy_catalog
from bot.policies.matching import run_matching
from bot.policies.models import Binding, Enterprise
from bot.push.models import PushRecord
from bot.store.models import utcnow
from tests.policies.helpers import add

GUIDES = ROOT / "guides"
TODAY = date(2026, 11, 22)  # the sample policies are in force around this day
CATALOG: PolicyCatalog = build_policy_catalog(GUIDES)


def bind(engine: Engine, uscc: str, user_id: str, channel: str) -> None:
    with Session(engine) as session:
        enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.uscc == uscc))
        session.add(Binding(user_id=user_id, channel=channel, enterprise_id=enterprise_id, active=True,
                            verified_by="test", bound_at=utcnow()))
        session.commit()


def matched_enterprises(engine: Engine, count: int, users: dict[str, str] | None = None, start: int = 1) -> list[str]:
    """``count`` enterprises with the profile most sample policies match, each bound to one user
    (``oPolicy{n}``: official account for odd n, mini-program for even n, unless ``users`` names them);
    matched as of TODAY. Returns the codes."""
    codes = []
    for n in range(start, start + count):
        code = add(engine, n, f"河南测试{n:04d}有限公司")
        user = (users or {}).get(code) or f"oPolicy{n:04d}"
        bind(engine, code, user, "wechat" if n % 2 else "mp")
        codes.append(code)
    run_matching(engine, CATALOG, TODAY, "test")
    return codes


def push_rows(engine: Engine) -> list[PushRecord]:
    with Session(engine) as session:
        return list(session.scalars(select(PushRecord).where(PushRecord.kind == "policy_notice").order_by(PushRecord.id)))
