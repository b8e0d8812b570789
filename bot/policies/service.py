"""免申即享 for the people involved: the enterprise user's policies and claims, staff's 兑现, and the
two functions the push side calls.

Status of a match: matched → notified (push) → confirmed (确认申领) or declined (不适用) → paid
(兑现, set by staff). An enterprise user may confirm or decline before any notice reached them (they
asked in the chat), and may change their mind until it is paid. Every change is a PolicyMatchEvent
(from, to, who, when). A 暂时难以数据化类 (manual) policy cannot be confirmed here: the data cannot
decide it, so the user is given the reduced materials and where to apply instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.policies import fields as f
from bot.policies.catalog import PolicyCatalog
from bot.policies.conditions import fields_in
from bot.policies.conditions.explain import benefit_tiers, near_miss_text, reasons
from bot.policies.models import (
    STATUS_LABELS,
    Binding,
    Enterprise,
    MatchStatus,
    NearMiss,
    PolicyMatch,
    PolicyMatchEvent,
    PolicyNotification,
)
from bot.policies.schema import Policy
from bot.store.models import utcnow

OPEN = (MatchStatus.MATCHED.value, MatchStatus.NOTIFIED.value)
# What the list shows first: what still needs the enterprise, then what is under way, then the rest.
_ORDER = {"notified": 0, "matched": 0, "confirmed": 1, "paid": 2, "declined": 3}


class PolicyError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def record(session: Session, match: PolicyMatch, to: str, actor_type: str, actor: str, note: str | None = None) -> None:
    session.add(PolicyMatchEvent(
        match_id=match.id, from_status=match.status, to_status=to, actor_type=actor_type, actor=actor, note=note,
        created_at=utcnow(),
    ))
    match.status = to
    match.updated_at = utcnow()


# --- what an enterprise user sees ---------------------------------------------------------------------


@dataclass(frozen=True)
class UserMatch:
    match: PolicyMatch
    enterprise: Enterprise
    policy: Policy


def _bound_enterprise_ids(session: Session, user_id: str) -> list[int]:
    return list(session.scalars(select(Binding.enterprise_id).where(Binding.user_id == user_id, Binding.active.is_(True))))


def user_matches(session: Session, catalog: PolicyCatalog, user_id: str, as_of: date) -> list[UserMatch]:
    """The matches of every enterprise the user is bound to: current ones of policies in force, and
    whatever was already confirmed or paid."""
    ids = _bound_enterprise_ids(session, user_id)
    if not ids:
        return []
    rows = session.execute(
        select(PolicyMatch, Enterprise).join(Enterprise, Enterprise.id == PolicyMatch.enterprise_id)
        .where(PolicyMatch.enterprise_id.in_(ids))
    ).all()
    out = []
    for match, enterprise in rows:
        policy = catalog.get(match.policy_id)
        if policy is None:
            continue
        settled = match.status in (MatchStatus.CONFIRMED, MatchStatus.PAID)
        if settled or (match.current and policy.in_force(as_of)):
            out.append(UserMatch(match, enterprise, policy))
    out.sort(key=lambda m: (_ORDER.get(m.match.status, 9), m.enterprise.name, m.policy.title))
    return out


def policy_info(item: UserMatch, as_of: date) -> dict[str, Any]:
    """One entry of the ``policies`` chat message (DESIGN.md), with a few added fields."""
    return {
        "id": item.policy.id,
        "title": item.policy.title,
        "kind": item.policy.kind,
        "why": reasons(item.policy, item.match.facts, as_of),
        "status": item.match.status,
        "status_label": STATUS_LABELS.get(item.match.status, item.match.status),
        "kind_label": item.policy.kind_label,
        "match_id": item.match.id,
        "enterprise": {"uscc": item.enterprise.uscc, "name": item.enterprise.name},
        "benefit": item.policy.benefit.summary,
    }


def get_user_match(session: Session, catalog: PolicyCatalog, user_id: str, match_id: int, lock: bool = False) -> UserMatch:
    match = session.get(PolicyMatch, match_id, with_for_update=lock)
    if match is None or match.enterprise_id not in _bound_enterprise_ids(session, user_id):
        raise PolicyError(404, "没有找到这项政策，或您尚未绑定该企业")
    policy = catalog.get(match.policy_id)
    if policy is None:
        raise PolicyError(404, "这项政策已下架")
    enterprise = session.get(Enterprise, match.enterprise_id)
    assert enterprise is not None
    return UserMatch(match, enterprise, policy)


def data_needed(policy: Policy) -> list[dict[str, str]]:
    declared = {d.field: d for d in policy.data}
    out = []
    for name in fields_in(policy.conditions, *(t.when for t in policy.benefit.tiers)):
        spec = f.BY_NAME[name]
        need = declared.get(name)
        out.append({"field": name, "label": spec.label, "source": (need.source if need and need.source else spec.source)})
    return out


def detail(session: Session, item: UserMatch, as_of: date) -> dict[str, Any]:
    """Everything the user sees on opening one policy."""
    policy, match = item.policy, item.match
    events = session.scalars(
        select(PolicyMatchEvent).where(PolicyMatchEvent.match_id == match.id).order_by(PolicyMatchEvent.id)
    ).all()
    can_claim = policy.kind != "manual" and match.status in (*OPEN, MatchStatus.DECLINED.value)
    return {
        **policy_info(item, as_of),
        "short_title": policy.short_title,
        "sample_notice": policy.sample_notice,
        "department": policy.department,
        "co_departments": policy.co_departments,
        "level": policy.level,
        "basis": policy.basis,
        "summary": policy.summary,
        "benefit": {
            "summary": policy.benefit.summary,
            "applies": benefit_tiers(policy, match.facts, as_of),
            "max_amount": policy.benefit.max_amount,
        },
        "valid_from": policy.valid_from.isoformat(),
        "valid_until": policy.valid_until.isoformat(),
        "list": policy.named_list.model_dump() if policy.named_list else None,
        "claim": policy.claim.model_dump() if policy.claim else None,
        "apply": policy.apply.model_dump() if policy.apply else None,
        "data": data_needed(policy),
        "matched_at": match.matched_at.isoformat(),
        "current": match.current,
        "actions": {"confirm": can_claim, "decline": match.status != MatchStatus.PAID},
        "history": [
            {"status": e.to_status, "label": STATUS_LABELS.get(e.to_status, e.to_status), "at": e.created_at.isoformat(),
             "by": e.actor_type}
            for e in events
        ],
    }


def user_near_misses(session: Session, catalog: PolicyCatalog, user_id: str, as_of: date) -> list[dict[str, Any]]:
    """Policies a bound enterprise is one condition short of, and by how much."""
    ids = _bound_enterprise_ids(session, user_id)
    if not ids:
        return []
    rows = session.execute(
        select(NearMiss, Enterprise)
        .join(Enterprise, Enterprise.id == NearMiss.enterprise_id)
        .where(NearMiss.enterprise_id.in_(ids))
    ).all()
    out = []
    for near, enterprise in rows:
        policy = catalog.get(near.policy_id)
        if policy is None or not policy.in_force(as_of):
            continue
        out.append({
            "id": policy.id, "title": policy.title, "kind": policy.kind,
            "enterprise": {"uscc": enterprise.uscc, "name": enterprise.name},
            **near_miss_text(policy, near.part, near.facts, as_of),
        })
    return out


def confirm(session: Session, item: UserMatch, user_id: str) -> bool:
    """确认申领. False when it was already confirmed (a double tap): nothing changes then."""
    match = item.match
    if item.policy.kind == "manual":
        raise PolicyError(409, "这项政策需要简易申报，请按材料清单和办理地点申请")
    if match.status == MatchStatus.CONFIRMED:
        return False
    if match.status == MatchStatus.PAID:
        raise PolicyError(409, "这项政策已兑现")
    if not match.current and match.status in OPEN:
        raise PolicyError(409, "根据最新数据，贵企业暂不符合这项政策的条件")
    record(session, match, MatchStatus.CONFIRMED, "enterprise", user_id)
    return True


def decline(session: Session, item: UserMatch, user_id: str, reason: str | None = None) -> bool:
    """企业表示不适用. False when it was already declined."""
    match = item.match
    if match.status == MatchStatus.DECLINED:
        return False
    if match.status == MatchStatus.PAID:
        raise PolicyError(409, "这项政策已兑现，不能再标记为不适用")
    record(session, match, MatchStatus.DECLINED, "enterprise", user_id, reason)
    return True


def mark_paid(session: Session, match_id: int, staff: str, note: str | None = None) -> PolicyMatch:
    """兑现: staff record that the money (or the tax relief) reached the enterprise."""
    match = session.get(PolicyMatch, match_id, with_for_update=True)
    if match is None:
        raise PolicyError(404, "没有找到这条匹配记录")
    if match.status == MatchStatus.PAID:
        return match
    if match.status != MatchStatus.CONFIRMED:
        raise PolicyError(409, f"企业尚未确认申领（当前状态：{STATUS_LABELS.get(match.status, match.status)}），不能登记兑现")
    record(session, match, MatchStatus.PAID, "staff", staff, note)
    return match


# --- for the push side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingNotice:
    """One notice to send: a match that a bound user has not been told of yet."""

    match_id: int
    policy_id: str
    title: str
    kind: str
    uscc: str
    enterprise_name: str
    user_id: str
    channel: str
    why: list[str]
    benefit: str


def pending_notifications(
    session: Session, catalog: PolicyCatalog, as_of: date, limit: int = 500, *,
    where: ColumnElement[bool] | None = None,
) -> list[PendingNotice]:
    """Current matches of policies in force, in status matched or notified, paired with every active
    binding of their enterprise that has no notification yet; oldest match first.

    A user bound after the first notice still gets one; a match the enterprise has already
    confirmed or declined (it found it in the chat) is not pushed. ``where``: the push side's own
    condition over ``PolicyMatch`` and ``Binding`` (its channels, what it gave up on).
    """
    in_force = [p.id for p in catalog.in_force(as_of)]
    if not in_force:
        return []
    told = exists().where(PolicyNotification.match_id == PolicyMatch.id, PolicyNotification.user_id == Binding.user_id)
    query = (
        select(PolicyMatch, Binding.user_id, Binding.channel, Enterprise.uscc, Enterprise.name)
        .join(Binding, Binding.enterprise_id == PolicyMatch.enterprise_id)
        .join(Enterprise, Enterprise.id == PolicyMatch.enterprise_id)
        .where(
            PolicyMatch.current.is_(True), PolicyMatch.status.in_(OPEN), PolicyMatch.policy_id.in_(in_force),
            Binding.active.is_(True), ~told,
        )
        .order_by(PolicyMatch.id, Binding.id)
        .limit(limit)
    )
    rows = session.execute(query if where is None else query.where(where)).all()
    notices = []
    for match, user_id, channel, code, name in rows:
        policy = catalog.get(match.policy_id)
        assert policy is not None
        notices.append(PendingNotice(
            match.id, policy.id, policy.title, policy.kind, code, name, user_id, channel,
            reasons(policy, match.facts, as_of), policy.benefit.summary,
        ))
    return notices


def mark_notified(session: Session, match_id: int, user_id: str, channel: str, actor: str = "system:push") -> bool:
    """Record that ``user_id`` was told of the match; the match moves matched → notified (once).

    Idempotent: a second call for the same (match, user) changes nothing and returns False.
    Call it in the transaction that records the send.
    """
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PolicyNotification)
    inserted = session.execute(
        insert.values(match_id=match_id, user_id=user_id, channel=channel, notified_at=utcnow())
        .on_conflict_do_nothing(index_elements=["match_id", "user_id"])
        .returning(PolicyNotification.id)
    ).scalar_one_or_none()
    if inserted is None:  # told before: nothing to do
        return False
    match = session.get(PolicyMatch, match_id, with_for_update=True)
    if match is not None and match.status == MatchStatus.MATCHED:
        record(session, match, MatchStatus.NOTIFIED, "system", actor, f"已推送给 {channel} 用户")
    return True
