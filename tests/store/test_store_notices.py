"""The notices repository: what goes in comes out, Chinese and all; ids cannot be guessed."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.messages import ChecklistMessage
from bot.store import notices
from bot.store.db import make_sessionmaker
from bot.store.models import NOTICE_ID_BYTES, Notice, new_notice_id

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def _create(session: Session, checklist: ChecklistMessage, user_id: str = OPENID) -> Notice:
    return notices.create(
        session,
        user_id=user_id,
        checklist=checklist,
        items=[i.id for i in checklist.items],
        answers={"married": "yes", "备注": "父母均为本县户籍"},
        guide_version="6a20be423a3d",
    )


def test_round_trip_keeps_everything(engine: Engine, make_checklist) -> None:
    checklist = make_checklist()
    before = datetime.now(UTC)
    with make_sessionmaker(engine)() as session:
        notice = _create(session, checklist)
        notice_id = notice.id
        session.commit()

    with make_sessionmaker(engine)() as session:  # a fresh session: nothing from the identity map
        got = notices.get(session, notice_id)
        assert got is not None
        assert got.user_id == OPENID
        assert got.guide_id == "newborn"
        assert got.guide_title == "新生儿出生一件事"
        assert got.guide_version == "6a20be423a3d"
        assert got.items == ["birth_certificate", "hukou_registration"]
        assert got.answers == {"married": "yes", "备注": "父母均为本县户籍"}
        assert got.checklist == checklist.model_dump(mode="json")
        assert ChecklistMessage.model_validate(got.checklist) == checklist
        assert got.checklist["where"]["window"] == "县政务服务中心一楼“一件事”综合窗口"
        assert got.created_at.tzinfo is not None
        assert got.created_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= got.created_at <= datetime.now(UTC) + timedelta(seconds=1)

        # Stored as real Chinese text, not \\u escapes, and queryable as JSON where the database can.
        if engine.dialect.name == "sqlite":
            raw = session.execute(text("SELECT checklist FROM notices WHERE id = :id"), {"id": notice_id}).scalar_one()
            assert "新生儿出生一件事" in raw and "\\u" not in raw
        else:
            title = session.execute(
                text("SELECT checklist->'guide'->>'title' FROM notices WHERE id = :id"), {"id": notice_id}
            ).scalar_one()
            assert title == "新生儿出生一件事"
            kind = session.execute(text("SELECT pg_typeof(checklist)::text FROM notices LIMIT 1")).scalar_one()
            assert kind == "jsonb"


def test_get_unknown_ids(session: Session) -> None:
    assert notices.get(session, "nope") is None
    assert notices.get(session, "") is None
    assert notices.get(session, "x" * 500) is None  # longer than any id: not even a query


def test_recent_for_user(session: Session, make_checklist) -> None:
    now = datetime.now(UTC)
    made = []
    for n, guide in enumerate(["newborn", "retirement", "school_enrollment"]):
        notice = _create(session, make_checklist(guide_id=guide, title=f"事项{n}"))
        notice.created_at = now - timedelta(minutes=10 - n)  # oldest first
        made.append(notice.id)
    _create(session, make_checklist(), user_id="13812345678")  # somebody else
    session.commit()

    recent = notices.recent_for_user(session, OPENID)
    assert [n.id for n in recent] == made[::-1]
    assert [n.guide_id for n in recent] == ["school_enrollment", "retirement", "newborn"]
    assert [n.id for n in notices.recent_for_user(session, OPENID, limit=2)] == made[:0:-1]
    assert notices.recent_for_user(session, OPENID, limit=0) == []
    assert [n.user_id for n in notices.recent_for_user(session, "13812345678")] == ["13812345678"]
    assert notices.recent_for_user(session, "nobody") == []


def test_ids_are_unguessable_and_distinct(session: Session, make_checklist) -> None:
    ids = [_create(session, make_checklist()).id for _ in range(25)]
    session.commit()
    assert len(set(ids)) == len(ids)
    for notice_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{16}", notice_id)
    # No shared structure between consecutive ids (no counter, no timestamp prefix).
    assert len({i[:4] for i in ids}) > 20
    assert NOTICE_ID_BYTES * 8 >= 96
    many = {new_notice_id() for _ in range(20_000)}
    assert len(many) == 20_000


def test_created_at_must_be_aware(session: Session, make_checklist) -> None:
    notice = _create(session, make_checklist())
    notice.created_at = datetime(2025, 1, 1, 8, 0)  # naive
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()
    session.rollback()


def test_aware_times_are_stored_as_utc(session: Session, make_checklist) -> None:
    beijing = datetime(2025, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    notice = _create(session, make_checklist())
    notice.created_at = beijing
    session.commit()
    session.expire_all()
    got = notices.get(session, notice.id)
    assert got is not None
    assert got.created_at == beijing
    assert got.created_at.tzinfo == UTC
    assert got.created_at.hour == 9


def test_user_id_is_checked_and_never_logged(session: Session, make_checklist, caplog) -> None:
    with pytest.raises(ValueError, match="user_id"):
        _create(session, make_checklist(), user_id="")
    with pytest.raises(ValueError, match="user_id"):
        _create(session, make_checklist(), user_id="u" * 129)

    caplog.set_level(logging.INFO, logger="bot.store")
    notice = _create(session, make_checklist(), user_id="13812345678")
    assert "138****5678" in caplog.text
    assert "13812345678" not in caplog.text
    assert notice.id not in caplog.text  # the id is the key to the notice: masked too
    assert "13812345678" not in repr(notice)


def test_long_guide_titles_fit(session: Session, make_checklist) -> None:
    title = "很长的事项名称" * 40  # 280 characters: more than the column holds
    notice = _create(session, make_checklist(title=title))
    session.commit()
    session.expire_all()
    got = notices.get(session, notice.id)
    assert got is not None
    assert got.guide_title == title[:200]
    assert got.checklist["guide"]["title"] == title


def test_database_errors_do_not_carry_user_data(session: Session, make_checklist) -> None:
    first = _create(session, make_checklist())
    session.commit()
    session.expunge(first)  # so the clash reaches the database, not just the identity map
    clash = Notice(
        id=first.id, user_id="13812345678", guide_id="newborn", guide_title="新生儿出生一件事",
        items=[], answers={}, checklist={}, guide_version=None,
    )
    session.add(clash)
    with pytest.raises(IntegrityError) as caught:
        session.flush()
    session.rollback()
    assert "13812345678" not in str(caught.value)
    assert "hidden" in str(caught.value)
