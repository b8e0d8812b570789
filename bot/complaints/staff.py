"""Staff accounts: argon2id password hashes (argon2-cffi, RFC 9106 defaults) and account creation.

What the staff desk (bot/admin: sign-in pages, sessions) needs to sign people in. Hashes are PHC
strings (``$argon2id$v=19$m=65536,t=3,p=4$...``) that carry their own parameters, so
``needs_rehash`` can upgrade them at the next successful login.
"""

from __future__ import annotations

import logging
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.complaints.models import ROLES, StaffAccount

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
USERNAME = re.compile(r"^[\w.@-]{2,64}$")  # letters (Chinese too), digits, _ . @ -

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a password: timing equaliser")


class StaffError(ValueError):
    """A staff-account request that cannot be done; the message is in Chinese."""


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch or a malformed hash (never raises)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's defaults."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffError(f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符")
    if password.strip() != password:
        raise StaffError("密码首尾不能有空格")


def normalize_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise StaffError("用户名为 2–64 个字符，只能用字母、汉字、数字和 _ . @ -")
    return name


def get_staff(session: Session, username: str) -> StaffAccount | None:
    return session.scalar(select(StaffAccount).where(StaffAccount.username == username.strip().lower()))


def create_staff(
    session: Session, username: str, department: str, password: str, role: str = "staff", *, guide_editor: bool = False,
) -> StaffAccount:
    """Add an account (flushed; the caller commits). StaffError if the username is taken or invalid."""
    name = normalize_username(username)
    department = department.strip()
    if not department or len(department) > 100:
        raise StaffError("部门名称不能为空，且不超过 100 个字符")
    if role not in ROLES:
        raise StaffError(f"角色只能是 {'、'.join(ROLES)}")
    if session.scalar(select(func.count()).select_from(StaffAccount).where(StaffAccount.username == name)):
        raise StaffError(f"用户名 {name} 已存在")
    account = StaffAccount(
        username=name, department=department, role=role, password_hash=hash_password(password), guide_editor=guide_editor,
    )
    session.add(account)
    session.flush()
    log.info("staff account added: %s (%s, %s)", name, department, role)
    return account


def authenticate(session: Session, username: str, password: str) -> StaffAccount | None:
    """The active account whose password this is, else None (same time taken for unknown names)."""
    account = get_staff(session, username)
    if account is None or not account.active:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(account.password_hash, password):
        return None
    if needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account
