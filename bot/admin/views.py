"""What the desk's pages and its JSON show of a ticket: labels, Beijing times, phones, history lines.

Nothing here is marked safe: the templates are autoescaped, so a citizen's text or a member of
staff's answer is shown as text wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from phonenumbers import NumberParseException

from bot.admin.auth import StaffUser
from bot.admin.queries import Clock, Urgency
from bot.complaints.calendar import SHANGHAI
from bot.complaints.models import STATUS_LABELS, Status, Ticket, TicketEvent
from bot.complaints.phones import masked, national
from bot.store.privacy import mask

ACTIONS: dict[str, str] = {
    "transfer": "转办",
    "start": "开始办理",
    "answer": "答复",
    "return": "退回",
    "revisit": "回访",
    "close": "办结",
}
# The statuses each action starts from (the service refuses anything else with 409).
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "transfer": (Status.ACCEPTED, Status.TRANSFERRED),
    "start": (Status.TRANSFERRED,),
    "answer": (Status.TRANSFERRED, Status.IN_PROGRESS),
    "return": (Status.TRANSFERRED, Status.IN_PROGRESS),
    "revisit": (Status.ANSWERED,),
    "close": (Status.REVISITED,),
}
DONE: dict[str, str] = {
    "transfer": "已转办。",
    "start": "已开始办理。",
    "answer": "已答复。群众下次打开对话时会收到答复并可评价。",
    "return": "已退回，工单已按分办规则重新分办。",
    "revisit": "已记录回访。",
    "close": "已办结。",
}
CHANNEL_LABELS = {"web": "网页对话", "wechat": "微信公众号", "mp": "豫事办小程序"}
SYSTEM_ACTORS = {"system:routing": "系统（自动分办）", "system:sla": "系统（督办）"}


def beijing(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def full_phone(e164: str | None) -> str:
    if not e164:
        return ""
    try:
        return national(e164)
    except NumberParseException:  # a stored number libphonenumber no longer parses: show it as stored
        return e164


def list_phone(e164: str | None) -> str:
    return masked(e164) or ""


def summary(ticket: Ticket, limit: int = 40) -> str:
    text = " ".join(ticket.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def available_actions(ticket: Ticket, user: StaffUser) -> list[str]:
    """The action forms to show: those the status allows; staff confirm a transfer only before dispatch."""
    shown = [a for a, statuses in ALLOWED_FROM.items() if ticket.status in statuses]
    if not user.admin and ticket.status != Status.ACCEPTED:
        shown = [a for a in shown if a != "transfer"]
    return shown


def actor_label(event: TicketEvent) -> str:
    if event.actor_type == "citizen":
        return f"群众（{mask(event.actor)}）"
    if event.actor_type == "system":
        return SYSTEM_ACTORS.get(event.actor, "系统")
    return f"{event.actor}（{event.actor_department}）" if event.actor_department else event.actor


def event_details(event: TicketEvent) -> list[str]:
    """The facts of an event beyond its note, in Chinese."""
    data: dict[str, Any] = event.data or {}
    details: list[str] = []
    if departments := data.get("departments"):
        details.append("承办部门：" + "、".join(str(d) for d in departments))
    if routing := data.get("routing"):
        details.append(f"分办依据：{routing}")
    if department := data.get("department"):
        details.append(f"退回部门：{department}")
    if rating := data.get("rating"):
        details.append(f"评价：{rating}")
    if deadline := data.get("deadline"):
        details.append(f"办理时限：{deadline}")
    if days := data.get("days_overdue"):
        details.append(f"超期 {days} 天")
    return details


@dataclass(frozen=True)
class HistoryLine:
    seq: int
    when: str
    what: str
    who: str
    change: str
    note: str | None
    details: list[str]


def history_lines(events: list[TicketEvent]) -> list[HistoryLine]:
    lines = []
    for e in events:
        before = STATUS_LABELS.get(e.from_status or "", "")
        after = STATUS_LABELS.get(e.to_status, e.to_status)
        change = f"{before} → {after}" if before and before != after else after
        lines.append(HistoryLine(e.seq, beijing(e.created_at), e.label, actor_label(e), change, e.note, event_details(e)))
    return lines


def urgency_json(urgency: Urgency) -> str | None:
    return urgency.key or None


def ticket_row_json(ticket: Ticket, clock: Clock) -> dict[str, Any]:
    """A queue row: the phone masked."""
    return {
        "no": ticket.no,
        "status": ticket.status,
        "status_label": ticket.status_label,
        "category": ticket.category,
        "summary": summary(ticket),
        "departments": list(ticket.departments),
        "accepted_at": ticket.accepted_at.isoformat(),
        "deadline": ticket.deadline.isoformat(),
        "urgency": urgency_json(clock.urgency(ticket)),
        "phone": list_phone(ticket.phone) or None,
    }


def ticket_detail_json(ticket: Ticket, events: list[TicketEvent], clock: Clock) -> dict[str, Any]:
    """Every field for the ticket's own department (or an administrator): the phone in full."""
    return {
        **ticket_row_json(ticket, clock),
        "text": ticket.text,
        "subject": ticket.subject,
        "guide": {"id": ticket.guide_id, "title": ticket.guide_title} if ticket.guide_id else None,
        "place": ticket.place,
        "phone": full_phone(ticket.phone) or None,
        "channel": ticket.channel,
        "user": mask(ticket.user_id),
        "returned_by": list(ticket.returned_by or []),
        "sla_start": ticket.sla_start.isoformat(),
        "answer": ticket.answer,
        "answered_at": ticket.answered_at.isoformat() if ticket.answered_at else None,
        "answered_by": ticket.answered_by,
        "rating": ticket.rating,
        "rated_at": ticket.rated_at.isoformat() if ticket.rated_at else None,
        "escalations": ticket.escalations,
        "reopen_count": ticket.reopen_count,
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
        "version": ticket.version,
        "events": [
            {
                "seq": e.seq, "kind": e.kind, "label": e.label, "from_status": e.from_status, "to_status": e.to_status,
                "actor": actor_label(e), "note": e.note, "data": e.data, "created_at": e.created_at.isoformat(),
            }
            for e in events
        ],
    }
