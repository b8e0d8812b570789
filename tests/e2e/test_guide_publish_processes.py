"""Two bot processes on one database: a guide published through one is served by the other within
seconds, without a restart (each polls the publication marker at most once a second)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
import yaml

from bot.complaints.staff import create_staff
from bot.guides.editing import write_back
from bot.launcher import Stack, free_port
from bot.store.db import make_engine, make_sessionmaker, upgrade_database

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "two-process-password"
ANSWERS = {"married": "married", "hukou_follow": "father", "local_hukou": "local", "insured_parent": "insured"}


def _bank_card(base: str) -> dict[str, object]:
    reply = httpx.post(f"{base}/api/v1/dialogue/checklist", json={"state": {"guide_id": "newborn", "answers": ANSWERS}},
                       timeout=10)
    assert reply.status_code == 200, reply.text
    card = next(m for m in reply.json()["messages"] if m["type"] == "checklist")
    return next(m for m in card["materials"] if m["id"] == "bank_card")


def _sign_in(base: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=10, follow_redirects=False)
    page = client.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    signed = client.post("/admin/login", data={"csrf": token.group(1), "username": "health", "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    return client, client.get("/admin/api/guides").json()["csrf"]


def test_both_processes_serve_a_publish(tmp_path: Path) -> None:
    guides = tmp_path / "guides"
    shutil.copytree(ROOT / "guides", guides)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        create_staff(session, "health", "县卫健委", PASSWORD, guide_editor=True)
        session.commit()
    engine.dispose()
    stack = Stack(model=tmp_path / "unused", log_dir=tmp_path / "logs", env={"DATABASE_URL": url, "GUIDES_DIR": str(guides)})
    try:
        first = stack.start_bot("bot-a", free_port(), {})
        second = stack.start_bot("bot-b", free_port(), {})
        assert _bank_card(first)["exempt"] is False and _bank_card(second)["exempt"] is False

        client, csrf = _sign_in(first)
        text = (guides / "newborn.yml").read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        next(m for m in data["materials"] if m["id"] == "bank_card")["shared_data"] = "银联账户实名核验"
        headers = {"X-CSRF-Token": csrf}
        saved = client.put("/admin/api/guides/guide/newborn/draft", json={"yaml": write_back(text, data)}, headers=headers)
        assert saved.status_code == 200, saved.text
        published = client.post("/admin/api/guides/guide/newborn/publish", json={"note": "银行卡免提交"}, headers=headers)
        assert published.status_code == 200, published.text
        started = time.monotonic()
        assert _bank_card(first)["exempt"] is True  # the publishing process at once

        while not _bank_card(second)["exempt"]:
            assert time.monotonic() - started < 10, "the other process did not pick up the publish within 10 s"
            time.sleep(0.2)
        assert "银联账户实名核验" in str(_bank_card(second)["exempt_reason"])
        client.close()
    finally:
        stack.stop()
