"""A full matching run: matches with their reasons and values, near misses with the gap, re-runs
that add nothing, data changes that make a match lapse, and the nightly job's CLI."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from bot.policies.catalog import PolicyCatalog
from bot.policies.conditions.explain import benefit_tiers, near_miss_text, reasons
from bot.policies.matching import run_matching
from bot.policies.models import Enterprise, NearMiss, PolicyMatch, PolicyMatchEvent
from tests.policies.conftest import TODAY
from tests.policies.helpers import add

WG = "wengang_fanhuan"


def _matches(engine: Engine, policy_id: str) -> dict[str, PolicyMatch]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Enterprise.__table__.c.uscc, PolicyMatch.__table__).join(
                Enterprise.__table__, Enterprise.__table__.c.id == PolicyMatch.__table__.c.enterprise_id
            ).where(PolicyMatch.__table__.c.policy_id == policy_id)
        ).all()
    return {r.uscc: r for r in rows}


def test_match_reasons_near_misses_and_idempotent_reruns(engine: Engine, catalog: PolicyCatalog) -> None:
    ok = add(engine, 1, "河南稳岗达标有限公司")
    short = add(engine, 2, "河南差两月有限公司", ui_paid_months=10)
    small = add(engine, 3, "河南小微有限公司", insured_count=20, layoff_rate="15.00", scale="微型")
    big_cut = add(engine, 4, "河南裁员多有限公司", insured_count=200, layoff_rate="8.00", scale="大型")
    unknown = add(engine, 5, "河南无数据有限公司", ui_paid_months=None)
    srdi = add(engine, 6, "河南专精特新有限公司", lists=("henan_srdi_2026",))

    first = run_matching(engine, catalog, TODAY, "test")
    wg = _matches(engine, WG)
    assert set(wg) == {ok, small, srdi}
    policy = catalog.get(WG)
    assert policy is not None
    why = reasons(policy, wg[ok].facts, TODAY)
    assert why[0] == "足额缴纳失业保险满12个月（贵企业：26个月）"
    assert "上年度裁员率 3.2%" in why[1] and "未列入严重失信主体名单" in why
    assert benefit_tiers(policy, wg[small].facts, TODAY) == ["中小微企业按上年度实际缴纳失业保险费的 60% 返还"]
    assert set(_matches(engine, "zhuanjingtexin_jiangli")) == {srdi}

    with engine.connect() as conn:
        near = {r.enterprise_id: r for r in conn.execute(select(NearMiss.__table__).where(NearMiss.__table__.c.policy_id == WG))}
        ids = dict(conn.execute(select(Enterprise.__table__.c.uscc, Enterprise.__table__.c.id)).all())
    assert set(near) == {ids[short], ids[big_cut], ids[unknown]}
    text = near_miss_text(policy, near[ids[short]].part, near[ids[short]].facts, TODAY)
    assert text["condition"] == "足额缴纳失业保险满12个月"
    assert text["gaps"] == ["失业保险连续足额缴费月数还差 2个月（贵企业：10个月）"]
    cut = near_miss_text(policy, near[ids[big_cut]].part, near[ids[big_cut]].facts, TODAY)
    assert cut["gaps"] == ["上年度裁员率超出 2.5%（贵企业：8%）"]
    assert near_miss_text(policy, near[ids[unknown]].part, near[ids[unknown]].facts, TODAY)["gaps"] == [
        "暂无失业保险连续足额缴费月数数据"
    ]

    again = run_matching(engine, catalog, TODAY, "test")
    assert again.new == 0 and first.new > 0
    with engine.connect() as conn:
        events = conn.execute(select(PolicyMatchEvent.__table__)).all()
    assert len(events) == first.new and {e.to_status for e in events} == {"matched"}

    # The shared data changes: one enterprise no longer qualifies, another now does.
    with engine.begin() as conn:
        t = Enterprise.__table__
        conn.execute(update(t).where(t.c.uscc == ok).values(dishonest=True))
        conn.execute(update(t).where(t.c.uscc == short).values(ui_paid_months=12))
    third = run_matching(engine, catalog, TODAY, "test", [WG])
    result = third.policies[0]
    assert (result.new, result.lapsed) == (1, 1)
    wg = _matches(engine, WG)
    assert wg[ok].current is False and wg[short].current is True


def test_policies_outside_their_window_are_not_matched(engine: Engine, catalog: PolicyCatalog) -> None:
    from datetime import date

    add(engine, 1, "河南稳岗达标有限公司")
    result = run_matching(engine, catalog, date(2031, 1, 1), "test")
    assert result.policies == []
