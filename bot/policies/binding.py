"""Binding a WeChat / mini-program user to an enterprise (企业绑定), with a verification step.

1. ``start``: the user gives the 统一社会信用代码; the enterprise must be in the 企业画像库. A
   challenge is made: a 6-digit code whose salted hash is stored, handed to the verifier to deliver.
2. ``verify``: the user gives the code back; five wrong tries or ten minutes end the challenge.
3. The binding is active until ``unbind``. A company may have several bound users; a user may act
   for several companies (an accountant's firm, a group).

The verifier is pluggable: a real deployment sends the code by SMS to the phone the enterprise
registered with 市场监管 (``contact_phone``), or confirms through 豫事办 real-name authentication
that the user is the legal representative. ``TestVerifier`` delivers to an in-process outbox (and,
for end-to-end runs across processes, may use a fixed code); it must never run in production.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.complaints.phones import masked
from bot.policies import uscc
from bot.policies.models import Binding, BindingChallenge, Enterprise
from bot.store.models import utcnow
from bot.store.privacy import mask

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CHALLENGE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_CHALLENGES_PER_HOUR = 5  # per user: a code sent by SMS costs money and may annoy the company
MAX_BINDINGS_PER_USER = 20


class BindingError(Exception):
    """A binding request that cannot be done; ``message`` is for the user, in Chinese."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class Verifier(Protocol):
    """Delivers a one-time code to someone entitled to act for ``enterprise``."""

    name: str

    def deliver(self, enterprise: Enterprise, user_id: str, code: str) -> str:
        """Send ``code``; return the hint the user is shown (“已发送至 138****1234”).
        Raise BindingError when this enterprise cannot be verified this way."""
        ...


@dataclass
class TestVerifier:
    """For tests and demos: the code goes to ``outbox`` (uscc, user_id, code), nowhere else.

    ``fixed_code``: every challenge uses this code, so a test driving another process knows it.
    """

    fixed_code: str | None = None
    name: str = "test"
    outbox: list[tuple[str, str, str]] = field(default_factory=list)

    def deliver(self, enterprise: Enterprise, user_id: str, code: str) -> str:
        self.outbox.append((enterprise.uscc, user_id, code))
        where = masked(enterprise.contact_phone) if enterprise.contact_phone else "企业登记的联系手机"
        return f"验证码已发送至{where}（测试环境：验证码不会真的发出）"

    def code(self) -> str | None:
        return self.fixed_code


@dataclass(frozen=True)
class Started:
    challenge_id: str
    enterprise: Enterprise
    hint: str
    expires_at: datetime


def _hash(challenge_id: str, code: str) -> str:
    # Salted with the challenge id: a leaked table does not give the codes away by a lookup table.
    return hashlib.sha256(f"{challenge_id}:{code}".encode()).hexdigest()


def find_enterprise(session: Session, code: str) -> Enterprise:
    try:
        normalized = uscc.validate(code)
    except uscc.InvalidUSCC as exc:
        raise BindingError(422, str(exc)) from exc
    enterprise = session.scalar(select(Enterprise).where(Enterprise.uscc == normalized))
    if enterprise is None:
        raise BindingError(404, "企业画像库中暂无该统一社会信用代码的企业，请核对代码；新登记的企业数据次日更新")
    return enterprise


def active_binding(session: Session, user_id: str, enterprise_id: int) -> Binding | None:
    return session.scalar(select(Binding).where(
        Binding.user_id == user_id, Binding.enterprise_id == enterprise_id, Binding.active.is_(True)
    ))


def start(session: Session, verifier: Verifier, user_id: str, channel: str, code: str) -> Started:
    enterprise = find_enterprise(session, code)
    if active_binding(session, user_id, enterprise.id) is not None:
        raise BindingError(409, f"您已绑定{enterprise.name}，无需重复绑定")
    bound = session.scalar(select(func.count()).select_from(Binding).where(Binding.user_id == user_id, Binding.active.is_(True)))
    if (bound or 0) >= MAX_BINDINGS_PER_USER:
        raise BindingError(409, f"一个账号最多绑定 {MAX_BINDINGS_PER_USER} 家企业，请先解绑不再需要的企业")
    now = utcnow()
    recent = session.scalar(select(func.count()).select_from(BindingChallenge).where(
        BindingChallenge.user_id == user_id, BindingChallenge.created_at > now - timedelta(hours=1)
    ))
    if (recent or 0) >= MAX_CHALLENGES_PER_HOUR:
        raise BindingError(429, "验证请求太频繁，请一小时后再试")
    challenge_id = secrets.token_urlsafe(16)
    fixed = getattr(verifier, "code", lambda: None)()
    secret = fixed or f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    hint = verifier.deliver(enterprise, user_id, secret)
    challenge = BindingChallenge(
        id=challenge_id, user_id=user_id, channel=channel, enterprise_id=enterprise.id, method=verifier.name,
        secret_hash=_hash(challenge_id, secret), attempts=0, created_at=now, expires_at=now + CHALLENGE_TTL,
    )
    session.add(challenge)
    session.flush()
    log.info("binding challenge for %s by %s via %s", enterprise.uscc, mask(user_id), verifier.name)
    return Started(challenge_id, enterprise, hint, challenge.expires_at)


def verify(session: Session, user_id: str, challenge_id: str, code: str) -> tuple[Binding, Enterprise]:
    challenge = session.get(BindingChallenge, challenge_id, with_for_update=True)
    if challenge is None or challenge.user_id != user_id:
        raise BindingError(404, "没有找到这次绑定验证，请重新发起绑定")
    if challenge.done_at is not None:
        raise BindingError(409, "这次验证已经完成，无需重复提交")
    now = utcnow()
    if challenge.expires_at <= now:
        raise BindingError(410, "验证码已过期，请重新发起绑定")
    if challenge.attempts >= MAX_ATTEMPTS:
        raise BindingError(429, "验证码错误次数过多，请重新发起绑定")
    if not hmac.compare_digest(challenge.secret_hash, _hash(challenge_id, code.strip())):
        challenge.attempts += 1
        left = MAX_ATTEMPTS - challenge.attempts
        session.flush()
        raise BindingError(422, f"验证码不对，还可以再试 {left} 次" if left else "验证码错误次数过多，请重新发起绑定")
    challenge.done_at = now
    enterprise = session.get(Enterprise, challenge.enterprise_id)
    assert enterprise is not None
    binding = session.scalar(select(Binding).where(Binding.user_id == user_id, Binding.enterprise_id == enterprise.id))
    if binding is None:
        binding = Binding(user_id=user_id, channel=challenge.channel, enterprise_id=enterprise.id, active=True,
                          verified_by=challenge.method, bound_at=now)
        session.add(binding)
    else:  # bound before and unbound since: the same row again, with the new verification
        binding.active, binding.channel, binding.verified_by = True, challenge.channel, challenge.method
        binding.bound_at, binding.unbound_at = now, None
    session.flush()
    log.info("bound %s to %s", mask(user_id), enterprise.uscc)
    return binding, enterprise


def unbind(session: Session, user_id: str, code: str) -> Enterprise:
    enterprise = find_enterprise(session, code)
    binding = active_binding(session, user_id, enterprise.id)
    if binding is None:
        raise BindingError(404, f"您没有绑定{enterprise.name}")
    binding.active = False
    binding.unbound_at = utcnow()
    session.flush()
    log.info("unbound %s from %s", mask(user_id), enterprise.uscc)
    return enterprise


def bindings_of(session: Session, user_id: str) -> list[tuple[Binding, Enterprise]]:
    rows = session.execute(
        select(Binding, Enterprise).join(Enterprise, Enterprise.id == Binding.enterprise_id)
        .where(Binding.user_id == user_id, Binding.active.is_(True)).order_by(Binding.bound_at)
    ).all()
    return list(rows)
