"""Staff accounts: argon2id hashing, creation and sign-in checks, and `python -m bot staff add`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot import cli
from bot.complaints.models import StaffAccount
from bot.complaints.staff import (
    StaffError,
    authenticate,
    create_staff,
    get_staff,
    hash_password,
    needs_rehash,
    verify_password,
)
from bot.store.db import make_sessionmaker
from tests.complaints.conftest import ROOT

PASSWORD = "correct horse battery"


def test_hash_and_verify() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert hash_password(PASSWORD) != hashed  # salted
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password("", PASSWORD)
    assert not needs_rehash(hashed)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert verify_password(weak, PASSWORD) and needs_rehash(weak)


@pytest.mark.parametrize(("password", "message"), [("short", "至少"), (" padded password ", "首尾"), ("x" * 300, "不能超过")])
def test_password_rules(password: str, message: str) -> None:
    with pytest.raises(StaffError, match=message):
        hash_password(password)


def test_create_and_authenticate(session: Session) -> None:
    account = create_staff(session, "Zhang.Police", "县公安局", PASSWORD)
    session.commit()
    assert (account.username, account.department, account.role, account.active) == ("zhang.police", "县公安局", "staff", True)
    assert PASSWORD not in repr(account) and account.password_hash not in repr(account)
    assert authenticate(session, "ZHANG.police", PASSWORD) is not None
    assert authenticate(session, "zhang.police", "wrong password!") is None
    assert authenticate(session, "nobody", PASSWORD) is None
    with pytest.raises(StaffError, match="已存在"):
        create_staff(session, "zhang.police", "县公安局", PASSWORD)
    with pytest.raises(StaffError, match="角色"):
        create_staff(session, "li", "县公安局", PASSWORD, role="root")
    with pytest.raises(StaffError, match="用户名"):
        create_staff(session, "a b", "县公安局", PASSWORD)
    account.active = False
    session.commit()
    assert authenticate(session, "zhang.police", PASSWORD) is None
    admin = create_staff(session, "王主任", "县行政审批和政务信息管理局", PASSWORD, role="admin")
    assert admin.is_admin and admin.username == "王主任"


def test_weak_hashes_are_upgraded_at_sign_in(session: Session) -> None:
    account = create_staff(session, "old", "县公安局", PASSWORD)
    account.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    session.commit()
    assert authenticate(session, "old", PASSWORD) is account
    assert not needs_rehash(account.password_hash) and verify_password(account.password_hash, PASSWORD)


def _cli(engine: Engine, *args: str, input: str | None = None) -> object:
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    return CliRunner().invoke(cli.app, ["staff", "add", *args], input=input, env=env)


def test_cli_staff_add(engine: Engine) -> None:
    result = _cli(engine, "Alice", "--department", "县公安局", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "已添加工作人员 alice（县公安局，工作人员）" in result.output
    assert PASSWORD not in result.output

    admin = _cli(engine, "boss", "-d", "县行政审批和政务信息管理局", "--admin", "--password-stdin", input=PASSWORD + "\n")
    assert admin.exit_code == 0, admin.output

    # Prompted twice (hidden), like passwd.
    prompted = _cli(engine, "carol", "-d", "派出所", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert "按部门名录记为 “县公安局”" in prompted.output

    with make_sessionmaker(engine)() as session:
        accounts = {a.username: a for a in session.scalars(select(StaffAccount))}
        assert set(accounts) == {"alice", "boss", "carol"}
        assert accounts["alice"].role == "staff" and accounts["boss"].role == "admin"
        assert accounts["carol"].department == "县公安局"
        assert verify_password(accounts["alice"].password_hash, PASSWORD)
        assert get_staff(session, "ALICE") is not None

    duplicate = _cli(engine, "alice", "-d", "县公安局", "--password-stdin", input=PASSWORD + "\n")
    assert duplicate.exit_code == 1 and "用户名 alice 已存在" in duplicate.output
    short = _cli(engine, "dave", "-d", "县公安局", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "密码至少" in short.output
    unknown = _cli(engine, "erin", "-d", "公安", "--password-stdin", input=PASSWORD + "\n")
    assert unknown.exit_code == 2 and "不在已知部门中" in unknown.output and "县公安局" in unknown.output
    new = _cli(engine, "erin", "-d", "县数据局", "--new-department", "--password-stdin", input=PASSWORD + "\n")
    assert new.exit_code == 0, new.output


def test_python_m_bot_staff_add(tmp_path) -> None:
    """The real entry point, in a subprocess, on a database that does not exist yet."""
    db = tmp_path / "var" / "staff.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    process = subprocess.run(
        [sys.executable, "-m", "bot", "staff", "add", "zhou", "--department", "县医保局", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert "已添加工作人员 zhou（县医保局，工作人员）" in process.stdout
    assert db.exists()
