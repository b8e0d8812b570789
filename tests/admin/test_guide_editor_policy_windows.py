"""The guide editor's list and pages tell staff when a 惠企政策's window ends (a month ahead), has
ended or has not begun, by the desk's clock in Beijing time, each department its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from bot.complaints.staff import create_staff
from bot.policies.validity import ENDING_SOON_DAYS
from bot.store.db import make_sessionmaker
from tests.admin.conftest import PASSWORD, Clock
from tests.admin.guide_editor_fixtures import Editor, editors, guide_app, sign_in  # noqa: F401 (fixtures)


def _row(listing: str, doc: str) -> str:
    start = listing.index(f'data-doc="{doc}"')
    return listing[start:listing.index("</tr>", start)]


def test_the_editor_list_tags_policies_by_their_window_in_beijing_time(
    sign_in: Callable[[str], Editor], clock: Clock,  # noqa: F811
) -> None:
    # 17:00 UTC on 31 December is already 1 January in Beijing: the window of 2026 has ended.
    clock.now = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    admin = sign_in("admin")
    listing = admin.get("/admin/guides").text
    ended = _row(listing, "policy/wengang_fanhuan")
    assert "有效期至 2026-12-31" in ended and "已到期" in ended and 'class="tag overdue validity-tag"' in ended
    later = _row(listing, "policy/geti_zhongdian_qunti")
    assert "有效期至 2027-12-31" in later and "validity-tag" not in later
    assert "有效期" not in _row(listing, "guide/newborn")
    assert 'id="policy-expiry"' in listing and "项已到期" in listing
    page = admin.get("/admin/guides/policy/wengang_fanhuan").text
    assert "提醒：政策已于 2026-12-31 到期，不再匹配和推送" in page

    clock.now = datetime(2026, 12, 30, 15, 59, tzinfo=UTC)  # 23:59 on 30 December in Beijing
    ending = _row(admin.get("/admin/guides").text, "policy/wengang_fanhuan")
    assert "1 天后到期" in ending and 'class="tag due-soon validity-tag"' in ending

    clock.now = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    listing = admin.get("/admin/guides").text
    assert "validity-tag" not in _row(listing, "policy/wengang_fanhuan") and 'id="policy-expiry"' not in listing


def test_a_department_sees_its_own_policies_ending(
    sign_in: Callable[[str], Editor], editors: dict[str, str], engine: Engine, clock: Clock,  # noqa: F811
) -> None:
    """An editor of 河南省人力资源和社会保障厅 sees their own three policies of 2026 ending, and no one else's."""
    with make_sessionmaker(engine)() as session:
        create_staff(session, "hrss", "河南省人力资源和社会保障厅", PASSWORD, guide_editor=True)
        session.commit()
    editors["hrss"] = "hrss"
    clock.now = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
    listing = sign_in("hrss").get("/admin/guides").text
    shown = sorted(part.split('"')[1] for part in listing.split("data-doc=")[1:])
    assert shown == ["policy/wengang_fanhuan", "policy/xiaowei_shebao_butie", "policy/yicixing_kuogang"]
    assert all("21 天后到期" in _row(listing, doc) for doc in shown)
    notice = listing[listing.index('id="policy-expiry"'):]
    assert notice[:notice.index("</p>")].endswith(
        f"3 项惠企政策将在 {ENDING_SOON_DAYS} 天内到期：到期的政策不再匹配、不再推送。"
        "如政策延续，请打开它更新 valid_until 并发布。"
    )
