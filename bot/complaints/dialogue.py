"""The complaint conversation (有诉即办) step by step, as the Rasa actions drive it.

Rasa decides *which* step runs (the `complain` intent, the rules, `complaint_form`); this module
decides *what* each step says and which slots change, like bot/guides/dialogue.py does for the
guided 一件事 flow. The form asks, one at a time: what happened, which 事项 or department (pre-filled
from the 一件事 the user was just guided through), where (optional), a contact phone (optional,
checked with bot.complaints.phones), then reads everything back for confirmation. Submitting goes
through bot.complaints.service in-process, with the idempotency key made once when the form starts,
so a retried or double-tapped confirmation gives the one ticket.

The backend keeps no conversation state: the slots come with every call. Wording is in
guides/templates/replies.yml (keys ``complaint_*``), editable by staff without retraining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.channels import messages as m
from bot.complaints import notifications, service
from bot.complaints.calendar import local_date
from bot.complaints.models import DISSATISFIED, RATINGS, Ticket
from bot.complaints.phones import InvalidPhone, national, normalize_phone
from bot.complaints.rules import Rules
from bot.complaints.schemas import ComplaintIn, ticket_message
from bot.guides.catalog import Catalog
from bot.guides.dialogue import Reply, payload
from bot.guides.matcher import FOUND_MIN, normalize
from bot.guides.schema import Guide
from bot.store.privacy import mask

log = logging.getLogger(__name__)

Slot = Literal["complaint_text", "complaint_subject", "complaint_place", "complaint_phone", "complaint_confirm"]
Channel = Literal["web", "wechat", "mp"]

NONE = "-"  # subject or place: the user has none to give (a filled slot, so the form moves on)
DECLINED = "declined"  # phone: the user prefers not to leave one
SUBMIT, EDIT, CANCEL = "submit", "edit", "cancel"
EDITABLE: dict[str, str] = {  # what the user may change at the read-back, in the order shown
    "complaint_text": "问题描述",
    "complaint_subject": "事项或部门",
    "complaint_place": "地点",
    "complaint_phone": "联系电话",
}
STATUS_SHOWN = 5  # tickets shown by “我的投诉怎么样了”
MIN_PREFILLED = 3  # meaningful characters the first message needs to count as the complaint itself
MIN_TEXT = 2  # ... and an answer to “遇到了什么问题”

# Words that say *that* someone complains, not *what* about: “我要投诉”, “俺想反映个问题”.
_GENERIC = re.compile(
    "|".join(
        sorted(
            [
                "我要投诉", "我想投诉", "我要举报", "我想举报", "投诉一下", "举报一下", "反映一下", "投诉", "举报", "检举",
                "揭发", "反映", "反应", "曝光", "意见", "诉求", "问题", "情况", "事情", "事儿", "这个事", "一件事", "一个",
                "一下", "我要", "我想", "俺要", "俺想", "想要", "要", "想", "有", "个", "的", "事", "我", "俺", "咱", "你们",
                "给", "说说", "说", "提", "这", "那", "了", "啊", "吧", "呢", "嘞", "哩", "哈", "呀", "嗯", "喂", "请", "帮",
                "帮忙", "我们", "俺们", "一", "下",
            ],
            key=len,
            reverse=True,
        )
    )
)
_YES = {"是", "是的", "对", "对的", "嗯", "嗯嗯", "中", "没错", "就是", "就是这个", "是这个", "就是这件事", "是这件事", "对头",
        "是滴", "对对", "对对对", "好", "好的", "可以", "行", "确认", "确定", "没问题", "中中"}
_NO = {"不是", "不对", "不是这个", "不是的", "不是这件事", "错了", "不中", "否"}
_UNKNOWN = ("不知道", "不清楚", "说不清", "不晓得", "不确定", "搞不清", "弄不清", "不太清楚", "不懂", "不了解")
_SKIP_PLACE = ("不填", "跳过", "不知道", "不记得", "记不清", "忘了", "不清楚", "说不清", "没有", "不用", "不用填", "算了",
               "不说了", "无", "略", "不想说", "不方便")
_DECLINE_PHONE = (
    "不留", "不方便", "不想留", "不想给", "不给", "不用", "不要", "没有", "没电话", "保密", "算了", "不想", "不需要", "不了",
    "拒绝", "在这聊", "网上联系",
)
_PHONE_LIKE = re.compile(r"[+＋]?[0-9０-９][0-9０-９\-－\s()（）]{5,30}[0-9０-９]")
_CONFIRM_CANCEL = ("不提交", "不投诉", "不举报", "取消", "撤回", "不要了", "不反映了", "算了")
_CONFIRM_EDIT = ("修改", "改一下", "改改", "要改", "改", "不对", "有错", "错了", "重新填", "重填")
_CONFIRM_SUBMIT = ("提交", "确认", "确定", "没问题", "就这样", "发吧", "发出去")  # anywhere in the answer
_CONFIRM_YES = {"对", "对的", "对对", "对头", "是", "是的", "是滴", "好", "好的", "好嘞", "行", "行吧", "中", "中嘞", "中中",
                "嗯", "嗯嗯", "可以", "可以的", "没错", "ok", "好了", "妥了"}  # the whole answer
_EDIT_WORDS: dict[str, tuple[str, ...]] = {
    "complaint_phone": ("电话", "手机", "号码", "联系方式"),
    "complaint_place": ("地点", "地方", "窗口", "大厅", "在哪"),
    "complaint_subject": ("事项", "部门", "哪个事", "单位"),
    "complaint_text": ("问题", "内容", "描述", "情况", "经过", "说的"),
}
_NO_EDIT = ("不改", "不用改", "没有要改", "不修改", "不需要改", "都对", "没问题")
# Typed ratings, most specific first (“非常不满意” before “不满意” before “满意”).
_RATING_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("非常不满意", ("非常不满意", "很不满意", "特别不满意", "太不满意", "非常差", "太差", "极差", "很差劲", "差评差评")),
    ("不满意", ("不满意", "不太满意", "不咋满意", "不是很满意", "不怎么满意", "差评", "不行", "没解决", "不好", "差劲", "不中")),
    ("非常满意", ("非常满意", "很满意", "特别满意", "十分满意", "太满意", "非常好", "太好了", "特别好", "五星")),
    ("基本满意", ("基本满意", "还行", "一般", "凑合", "还可以", "马马虎虎", "过得去", "基本")),
    ("满意", ("满意", "好评", "挺好", "不错", "可以", "中")),
)


def _clean(text: str | None) -> str:
    return (text or "").strip()


def _is_payload(text: str) -> bool:
    return text.startswith("/")


def _meaningful(text: str) -> int:
    """How many characters are left once the words that only say “I complain” are taken out."""
    return len(_GENERIC.sub("", normalize(text)))


def _day(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite gives back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return local_date(moment).isoformat()


def cn_date(value: str | date) -> str:
    """2026-11-26 -> 2026年11月26日."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.year}年{day.month}月{day.day}日"


def _rating_in(text: str) -> str | None:
    norm = normalize(text)
    if norm in RATINGS:
        return norm
    for rating, words in _RATING_WORDS:
        if any(w in norm for w in words):
            return rating
    return None


class ComplaintState(BaseModel):
    """The slots an action sends along; the backend keeps no conversation state of its own."""

    guide_id: str | None = None  # the 一件事 the user was last guided through (pre-fills the subject)
    complaint_text: str | None = None
    complaint_subject: str | None = None  # a guide's title, a department, the user's words, or NONE
    complaint_guide_id: str | None = None  # set when the subject is a 一件事
    complaint_place: str | None = None  # or NONE
    complaint_phone: str | None = None  # E.164, or DECLINED
    complaint_confirm: str | None = None  # SUBMIT or CANCEL once answered
    complaint_editing: bool = False  # the read-back asks which field to change
    complaint_key: str | None = None  # the idempotency key, made once when the form starts
    complaint_opening: str | None = None  # “我要举报”: said before what happened, kept with it (the category)

    @field_validator("complaint_editing", mode="before")
    @classmethod
    def _editing(cls, value: Any) -> bool:
        return bool(value)

    @field_validator(
        "guide_id", "complaint_text", "complaint_subject", "complaint_guide_id", "complaint_place", "complaint_phone",
        "complaint_confirm", "complaint_key", "complaint_opening", mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> str | None:
        # A slot may hold anything Rasa put there; only text means something here.
        return value if isinstance(value, str) else None


def fresh_complaint(key: str | None = None) -> dict[str, Any]:
    """Every complaint slot emptied (and a new idempotency key when one is given)."""
    return {
        "complaint_text": None, "complaint_subject": None, "complaint_guide_id": None, "complaint_place": None,
        "complaint_phone": None, "complaint_confirm": None, "complaint_editing": False, "complaint_key": key,
        "complaint_opening": None,
    }


class ComplaintDialogue:
    def __init__(self, catalog: Catalog, rules: Rules) -> None:
        self.catalog = catalog
        self.rules = rules
        self.say = catalog.wording.render

    # --- helpers -------------------------------------------------------------------------

    def _text(self, key: str, guide: Guide | None = None, **context: Any) -> m.TextMessage:
        ref = m.GuideRef(id=guide.id, title=guide.title) if guide else None
        return m.TextMessage(text=self.say(key, **context), guide=ref)

    def _department_named(self, text: str) -> str | None:
        """The directory's department the text names (by name or alias), the longest name winning."""
        norm = normalize(text)
        best: tuple[int, str] | None = None
        for department in self.rules.data.departments:
            for name in (department.name, *department.aliases):
                n = normalize(name)
                if n and n in norm and (best is None or len(n) > best[0]):
                    best = (len(n), department.name)
        return best[1] if best else None

    def _guide_named(self, text: str, *, clearly: bool = False) -> Guide | None:
        """The 一件事 the text names; `clearly`: by more than a lone keyword (上户口 alone is a hint)."""
        found = self.catalog.matcher.identify(text)
        if found.outcome == "found" and found.best is not None and (not clearly or found.best.score >= FOUND_MIN):
            return self.catalog.guide(found.best.guide_id)
        return None

    def _without_names(self, text: str) -> str:
        """The text without the departments and 一件事 it names: “我要投诉县公安局” says nothing yet."""
        norm = normalize(text)
        departments = [n for d in self.rules.data.departments for n in (d.name, *d.aliases)]
        guides = [n for g in self.catalog.guides.values() for n in (g.title, g.title.removesuffix("一件事"), *g.aliases)]
        names = sorted({normalize(n) for n in [*departments, *guides]}, key=len, reverse=True)
        for name in names:
            if name:
                norm = norm.replace(name, "")
        return norm

    def prefill(self, state: ComplaintState) -> tuple[str, Guide | None] | None:
        """What the complaint is probably about: a 一件事 or department its text names, else the guide just used.

        A department named outranks a 一件事 only hinted at: “派出所给娃上户口一直拖着” is about 县公安局.
        """
        text = state.complaint_text or ""
        if text and (guide := self._guide_named(text, clearly=True)):
            return guide.title, guide
        if text and (department := self._department_named(text)):
            return department, None
        if text and (guide := self._guide_named(text)):
            return guide.title, guide
        if guide := self.catalog.guide(state.guide_id):
            return guide.title, guide
        return None

    def _readback(self, state: ComplaintState) -> m.ChoicesMessage:
        phone = state.complaint_phone if state.complaint_phone not in (None, DECLINED) else None
        text = self.say(
            "complaint_readback",
            text=state.complaint_text or "",
            subject=None if state.complaint_subject in (None, NONE) else state.complaint_subject,
            place=None if state.complaint_place in (None, NONE) else state.complaint_place,
            phone=national(phone) if phone else None,
        )
        choices = [
            m.Choice(title="确认提交", payload=payload("confirm_complaint", choice=SUBMIT)),
            m.Choice(title="修改", payload=payload("confirm_complaint", choice=EDIT)),
            m.Choice(title="算了", payload=payload("confirm_complaint", choice=CANCEL)),
        ]
        return m.ChoicesMessage(text=text, choices=choices)

    def _edit_choices(self) -> m.ChoicesMessage:
        choices = [m.Choice(title=title, payload=payload("confirm_complaint", choice=f"edit:{slot}"))
                   for slot, title in EDITABLE.items()]
        choices.append(m.Choice(title="不改了", payload=payload("confirm_complaint", choice="edit:none")))
        return m.ChoicesMessage(text=self.say("complaint_edit_which"), choices=choices)

    # --- entry ---------------------------------------------------------------------------

    def start(self, state: ComplaintState, text: str) -> Reply:
        """The user said they want to complain: a fresh draft with a new idempotency key.

        When the first message already says what happened (“跑了三趟都没办成”), it is the complaint
        text and the form does not ask for it again; “我要投诉” alone is not.
        """
        text = _clean(text)
        slots = fresh_complaint(uuid.uuid4().hex)
        if text and not _is_payload(text) and len(text) <= 2000 and _meaningful(self._without_names(text)) >= MIN_PREFILLED:
            slots["complaint_text"] = text
        elif text and not _is_payload(text) and normalize(text):
            slots["complaint_opening"] = text[:200]  # “我要举报县公安局”: joined to the answer that follows
        message = self._text("complaint_start", prefilled=slots["complaint_text"] is not None)
        return Reply(messages=[message], slots=slots)

    # --- prompts -------------------------------------------------------------------------

    def prompt(self, slot: Slot, state: ComplaintState) -> Reply:
        if slot == "complaint_text":
            return Reply(messages=[self._text("complaint_ask_text")])
        if slot == "complaint_subject":
            found = self.prefill(state)
            label, guide = found if found else (None, None)
            ref = m.GuideRef(id=guide.id, title=guide.title) if guide else None
            choices = []
            if label:
                choices.append(m.Choice(title="是，就是这个", payload=payload("choose", choice="subject:yes"), guide=ref))
            choices.append(m.Choice(title="说不清", payload=payload("choose", choice="subject:unknown")))
            text = self.say("complaint_ask_subject", prefill=label)
            return Reply(messages=[m.ChoicesMessage(text=text, choices=choices, guide=ref)])
        if slot == "complaint_place":
            choices = [m.Choice(title="不填", payload=payload("choose", choice="place:skip"))]
            return Reply(messages=[m.ChoicesMessage(text=self.say("complaint_ask_place"), choices=choices)])
        if slot == "complaint_phone":
            choices = [m.Choice(title="不留电话", payload=payload("choose", choice="phone:decline"))]
            return Reply(messages=[m.ChoicesMessage(text=self.say("complaint_ask_phone"), choices=choices)])
        if state.complaint_editing:
            return Reply(messages=[self._edit_choices()])
        return Reply(messages=[self._readback(state)])

    # --- answers -------------------------------------------------------------------------

    def interpret(self, slot: Slot, state: ComplaintState, text: str, choice: str | None) -> Reply:
        """The user's answer for ``slot``: the slot's value, or None (with a note) to ask again."""
        text = _clean(text)
        if choice is None and _is_payload(text):
            text = ""  # a button of some other step: not an answer to this one
        handler = {
            "complaint_text": self._interpret_text,
            "complaint_subject": self._interpret_subject,
            "complaint_place": self._interpret_place,
            "complaint_phone": self._interpret_phone,
            "complaint_confirm": self._interpret_confirm,
        }[slot]
        return handler(state, text, choice)

    def _interpret_text(self, state: ComplaintState, text: str, choice: str | None) -> Reply:
        if len(text) > 2000:
            return Reply(messages=[self._text("complaint_text_too_long")], slots={"complaint_text": None})
        if _meaningful(text) < MIN_TEXT:
            return Reply(messages=[self._text("complaint_text_too_short")], slots={"complaint_text": None})
        opening = state.complaint_opening
        if opening and normalize(opening) not in normalize(text) and len(opening) + len(text) < 2000:
            text = f"{opening.rstrip('。，,.!！ ')}：{text}"  # “我要举报：有人收了红包才给办”
        return Reply(slots={"complaint_text": text, "complaint_opening": None})

    def _interpret_subject(self, state: ComplaintState, text: str, choice: str | None) -> Reply:
        found = self.prefill(state)
        norm = normalize(text)
        if choice == "subject:yes" or (choice is None and norm in _YES):
            if found:
                label, guide = found
                return Reply(slots={"complaint_subject": label, "complaint_guide_id": guide.id if guide else None})
            return Reply(messages=[self._text("complaint_subject_again")], slots={"complaint_subject": None})
        if choice == "subject:unknown" or (choice is None and any(w in norm for w in _UNKNOWN)):
            return Reply(slots={"complaint_subject": NONE, "complaint_guide_id": None})
        if choice is not None or not norm:
            return Reply(messages=[self._text("complaint_subject_again")], slots={"complaint_subject": None})
        if department := self._department_named(text):
            return Reply(slots={"complaint_subject": department, "complaint_guide_id": None})
        if guide := self._guide_named(text):
            return Reply(slots={"complaint_subject": guide.title, "complaint_guide_id": guide.id})
        if norm in _NO or len(norm) < 2 or _meaningful(text) == 0:  # “不是”, “我要投诉”: not a 事项 or department
            return Reply(messages=[self._text("complaint_subject_again")], slots={"complaint_subject": None})
        return Reply(slots={"complaint_subject": text[:200], "complaint_guide_id": None})

    def _interpret_place(self, state: ComplaintState, text: str, choice: str | None) -> Reply:
        norm = normalize(text)
        if choice == "place:skip" or (choice is None and norm and (norm in _SKIP_PLACE or norm.startswith(("不填", "不记得")))):
            return Reply(slots={"complaint_place": NONE})
        if choice is not None or not norm:
            return Reply(messages=[self._text("complaint_place_again")], slots={"complaint_place": None})
        return Reply(slots={"complaint_place": text[:200]})

    def _interpret_phone(self, state: ComplaintState, text: str, choice: str | None) -> Reply:
        norm = normalize(text)
        if choice == "phone:decline" or (choice is None and norm and not re.search(r"\d", norm)
                                         and any(w in norm for w in _DECLINE_PHONE)):
            return Reply(messages=[self._text("complaint_phone_declined")], slots={"complaint_phone": DECLINED})
        error = InvalidPhone()
        for candidate in [text, *(match.group() for match in _PHONE_LIKE.finditer(text))] if choice is None else []:
            try:
                phone = normalize_phone(candidate)
            except InvalidPhone as exc:
                error = exc
                continue
            if phone:
                return Reply(slots={"complaint_phone": phone})
        return Reply(messages=[self._text("complaint_phone_invalid", error=str(error))], slots={"complaint_phone": None})

    def _interpret_confirm(self, state: ComplaintState, text: str, choice: str | None) -> Reply:
        norm = normalize(text)
        if state.complaint_editing:
            return self._interpret_edit(state, norm, choice)
        if choice == CANCEL or (choice is None and any(w in norm for w in _CONFIRM_CANCEL)):
            return Reply(slots={"complaint_confirm": CANCEL, "complaint_editing": False})
        if choice == EDIT or (choice is None and any(w in norm for w in _CONFIRM_EDIT)):
            return Reply(slots={"complaint_confirm": None, "complaint_editing": True})
        negative = "不" in norm and "没问题" not in norm  # “不好”, “不行”: not a yes, but not clear either
        yes = norm in _CONFIRM_YES or any(w in norm for w in _CONFIRM_SUBMIT)
        if choice == SUBMIT or (choice is None and not negative and yes):
            return Reply(slots={"complaint_confirm": SUBMIT, "complaint_editing": False})
        return Reply(messages=[self._text("complaint_confirm_again")], slots={"complaint_confirm": None})

    def _interpret_edit(self, state: ComplaintState, norm: str, choice: str | None) -> Reply:
        target = choice.removeprefix("edit:") if choice and choice.startswith("edit:") else None
        if target is None and choice is None:
            if any(w in norm for w in _NO_EDIT):
                target = "none"
            else:
                target = next((slot for slot, words in _EDIT_WORDS.items() if any(w in norm for w in words)), None)
        if target == "none":
            return Reply(slots={"complaint_confirm": None, "complaint_editing": False})
        if target in EDITABLE:
            slots: dict[str, Any] = {target: None, "complaint_confirm": None, "complaint_editing": False}
            if target == "complaint_subject":
                slots["complaint_guide_id"] = None
            return Reply(slots=slots)
        return Reply(messages=[self._text("complaint_edit_again")], slots={"complaint_confirm": None})

    # --- submitting ----------------------------------------------------------------------

    def _stored(self, session: Session, user_id: str, key: str | None) -> Ticket | None:
        """The ticket already made with this idempotency key, if any."""
        if not key:
            return None
        return session.scalar(select(Ticket).where(Ticket.user_id == user_id, Ticket.idempotency_key == key))

    @staticmethod
    def _key(state: ComplaintState, user_id: str) -> str:
        """The key made at the start; without one (the start failed), one derived from the content."""
        if state.complaint_key:
            return state.complaint_key
        content = [user_id, state.complaint_text, state.complaint_subject, state.complaint_place, state.complaint_phone]
        return "content-" + hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:40]

    def _complete(self, state: ComplaintState) -> bool:
        return all(getattr(state, slot) for slot in EDITABLE) and state.complaint_confirm == SUBMIT

    def _accepted(self, ticket: Ticket, created: bool) -> Reply:
        key = "complaint_accepted" if created else "complaint_already"
        text = self.say(
            key, no=ticket.no, category=ticket.category, departments=list(ticket.departments),
            deadline=cn_date(ticket.deadline), phone=bool(ticket.phone),
        )
        message = ticket_message(ticket)
        return Reply(messages=[message, m.TextMessage(text=text, guide=message.guide)])

    def submit(self, session: Session, state: ComplaintState, user_id: str, channel: Channel, choice: str | None) -> Reply:
        """After the read-back (the form is done), or a confirmation button tapped again later.

        “确认提交” submits with the draft's idempotency key: the first time makes the ticket, any
        retry or second tap gets the same one. “算了” drops the draft. Buttons of a read-back whose
        draft was already submitted cannot change or withdraw it.
        """
        if state.complaint_confirm == CANCEL:
            return Reply(messages=[self._text("complaint_cancelled")], slots=fresh_complaint())
        if not self._complete(state):
            return Reply(messages=[self._text("complaint_nothing")], slots={"complaint_editing": False})
        if choice and choice != SUBMIT:  # 修改 / 算了 from a read-back whose form has ended
            try:
                ticket = self._stored(session, user_id, state.complaint_key)
            except SQLAlchemyError:
                session.rollback()
                log.exception("complaint look-up failed (user %s)", mask(user_id))
                return Reply(messages=[self._text("complaint_busy")])
            if ticket is not None:
                reply = self._accepted(ticket, created=False)
                reply.messages.insert(0, self._text("complaint_cannot_change"))
                return reply
            if choice == CANCEL:
                return Reply(messages=[self._text("complaint_cancelled")], slots=fresh_complaint())
            choices = [
                m.Choice(title="确认提交", payload=payload("confirm_complaint", choice=SUBMIT)),
                m.Choice(title="算了", payload=payload("confirm_complaint", choice=CANCEL)),
            ]
            return Reply(messages=[m.ChoicesMessage(text=self.say("complaint_not_submitted"), choices=choices)])
        try:
            body = ComplaintIn(
                user_id=user_id, channel=channel, idempotency_key=self._key(state, user_id),
                text=state.complaint_text, subject=None if state.complaint_subject == NONE else state.complaint_subject,
                guide_id=state.complaint_guide_id, place=None if state.complaint_place == NONE else state.complaint_place,
                phone=None if state.complaint_phone == DECLINED else state.complaint_phone,
            )
        except ValidationError as exc:
            error = str(exc.errors()[0].get("ctx", {}).get("error") or exc.errors()[0].get("msg"))
            return Reply(messages=[self._text("complaint_invalid", error=error.removeprefix("Value error, "))])
        submission = service.Submission(
            user_id=body.user_id, channel=body.channel, idempotency_key=body.idempotency_key, text=body.text,
            subject=body.subject, guide_id=body.guide_id, place=body.place, phone=body.phone,
        )
        try:
            ticket, created = service.create_ticket(session, submission, rules=self.rules, catalog=self.catalog)
            session.commit()  # stored before it is confirmed to the user
        except service.ComplaintError as exc:
            session.rollback()
            log.warning("complaint refused (user %s): %s", mask(user_id), exc.message)
            return Reply(messages=[self._text("complaint_invalid", error=exc.message)])
        except SQLAlchemyError:
            session.rollback()
            log.exception("saving a complaint failed (user %s)", mask(user_id))
            return Reply(messages=[self._text("complaint_busy")])
        # The draft stays (until the next complaint starts), so tapping 确认提交 again is a retry.
        return self._accepted(ticket, created)

    def stop(self) -> Reply:
        """“算了” in the middle of the form."""
        return Reply(messages=[self._text("complaint_cancelled")], slots=fresh_complaint())

    # --- following up: status and 好差评 ---------------------------------------------------

    @staticmethod
    def _rating_choices(ticket: Ticket) -> list[m.Choice]:
        return notifications.rating_choices(ticket.no)

    def status(self, session: Session, user_id: str) -> Reply:
        """The user's newest tickets: status, the department's answer, and 好差评 where it is open."""
        try:
            tickets = service.tickets_for_user(session, user_id, STATUS_SHOWN + 1)
        except SQLAlchemyError:
            session.rollback()
            log.exception("listing tickets failed (user %s)", mask(user_id))
            return Reply(messages=[self._text("complaint_busy")])
        if not tickets:
            return Reply(messages=[self._text("complaint_status_none")])
        shown = tickets[:STATUS_SHOWN]
        messages: list[m.Message] = [
            self._text("complaint_status_intro", count=len(shown), more=len(tickets) > STATUS_SHOWN)
        ]
        for ticket in shown:
            card = ticket_message(ticket)
            messages.append(card)
            can_rate = service.can_rate(ticket)
            if ticket.answer or ticket.rating:
                text = self.say(
                    "complaint_status_answer", no=ticket.no, answer=ticket.answer, answered=_day(ticket.answered_at),
                    rating=ticket.rating,
                )
                messages.append(m.TextMessage(text=text, guide=card.guide))
            if can_rate:
                text = self.say("complaint_rate_prompt", no=ticket.no)
                messages.append(m.ChoicesMessage(text=text, choices=self._rating_choices(ticket), guide=card.guide))
        return Reply(messages=messages)

    def rate(self, session: Session, user_id: str, ticket_no: str | None, rating: str | None, text: str) -> Reply:
        """好差评 of a department's answer: from the buttons, or typed (“非常满意”) for the ticket awaiting one."""
        if rating not in RATINGS:
            rating = None if _is_payload(text) else _rating_in(text)
        try:
            if ticket_no:
                ticket = service.get_for_user(session, ticket_no, user_id)
            else:
                waiting = [t for t in service.tickets_for_user(session, user_id, 100) if service.can_rate(t)]
                if not waiting:
                    return Reply(messages=[self._text("complaint_rate_none")])
                if len(waiting) > 1:
                    extra = {"rating": rating} if rating else {}
                    choices = [
                        m.Choice(title=f"{t.no}（{t.category}）", payload=payload("rate_ticket", ticket_no=t.no, **extra))
                        for t in waiting[:STATUS_SHOWN]
                    ]
                    return Reply(messages=[m.ChoicesMessage(text=self.say("complaint_rate_which"), choices=choices)])
                ticket = waiting[0]
            if rating is None:
                prompt = self.say("complaint_rate_prompt", no=ticket.no)
                return Reply(messages=[m.ChoicesMessage(text=prompt, choices=self._rating_choices(ticket))])
            service.rate(session, ticket, rating, user_id)
            no, departments, deadline = ticket.no, list(ticket.departments), ticket.deadline
            session.commit()
        except service.ComplaintError as exc:
            session.rollback()
            return Reply(messages=[self._text("complaint_rate_failed", error=exc.message)])
        except SQLAlchemyError:
            session.rollback()
            log.exception("rating a ticket failed (user %s)", mask(user_id))
            return Reply(messages=[self._text("complaint_busy")])
        if rating in DISSATISFIED:
            key, context = "complaint_reopened", {"departments": departments, "deadline": cn_date(deadline)}
        else:
            key, context = "complaint_rated", {}
        return Reply(messages=[self._text(key, no=no, rating=rating, **context)])
