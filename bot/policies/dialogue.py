"""The 惠企政策 conversation (免申即享) and 企业绑定, step by step, as the Rasa actions drive it.

Rasa decides *which* step runs (the intents ask_policies / open_policy / confirm_claim /
decline_claim / bind_company / unbind_company, the rules, `binding_form`); this module decides
*what* each step says and which slots change, like bot/complaints/dialogue.py does for complaints.
It calls bot.policies.service and bot.policies.binding in-process, on the app's database.

- The list: the ``policies`` chat message (DESIGN.md) with the reasons, the near misses, and a
  button per policy to open it. A user who has bound no company is offered binding instead.
- One policy: what it gives (and the level that applies), why the enterprise qualifies, who pays
  and how; 暂时难以数据化类 (manual): the reduced materials and where to apply (a link when the
  online entry is an address). Buttons 确认申领 / 不适用 as the match's status allows.
- Binding (the form): the 统一社会信用代码 (a bad check digit is explained in Chinese), a code sent
  by the pluggable verifier, the code back; unbinding with a button per bound company.

The backend keeps no conversation state: the slots come with every call. Wording is in
guides/templates/replies.yml (keys ``policy_*``), editable by staff without retraining.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, field_validator
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.channels import messages as m
from bot.complaints.dialogue import cn_date
from bot.guides.answers import _numbers as numbers_in  # the sub-item picker's reading of “第二个”, “2”
from bot.guides.catalog import Catalog
from bot.guides.dialogue import Reply, payload
from bot.guides.matcher import normalize
from bot.policies import binding, service
from bot.policies.catalog import PolicyCatalog
from bot.policies.models import MatchStatus
from bot.store.privacy import mask

log = logging.getLogger(__name__)

BindSlot = Literal["bind_uscc", "bind_code"]

VERIFIED = "ok"  # bind_code once the code was right
ALREADY = "already"  # bind_code when the user had bound that company before
GAVE_UP = "-"  # bind_uscc / bind_code when binding cannot go on now (too many tries, too many companies)
RESEND, OTHER = "bind:resend", "bind:other"  # buttons at the code question

# Runs of letters and digits once spaces and hyphens are gone: “9141 0522 MA44-K7QH-24” is one code.
_CODE_RUN = re.compile(r"[0-9A-Z]{15,20}")
_DIGITS = re.compile(r"\d{4,8}")
_RESEND_WORDS = ("重发", "重新发", "再发", "没收到", "没有收到", "收不到", "没短信")
_OTHER_WORDS = ("换一家", "换个企业", "换个公司", "换一个企业", "换一个公司", "代码错了", "代码输错")


def _fresh_binding(status: str | None = None) -> dict[str, Any]:
    return {"bind_uscc": None, "bind_code": None, "bind_challenge": None, "bind_enterprise": None, "bind_status": status}


def _flat(text: str) -> str:
    """Full-width to half-width, upper case, without spaces and hyphens (how codes get copied)."""
    return re.sub(r"[\s\-－—_]", "", unicodedata.normalize("NFKC", text)).upper()


def code_in(text: str) -> str | None:
    """The 统一社会信用代码 the text carries (18 characters, or a near miss the check will explain)."""
    runs = _CODE_RUN.findall(_flat(text))
    exact = [r for r in runs if len(r) == 18]
    return (exact or runs or [None])[0]


def _is_payload(text: str) -> bool:
    return text.startswith("/")


class PolicyState(BaseModel):
    """The slots an action sends along; the backend keeps no conversation state of its own."""

    policy_match_id: str | None = None  # the policy last opened: a typed “确认申领” means it
    bind_uscc: str | None = None  # the code a challenge was started for, or GAVE_UP
    bind_code: str | None = None  # VERIFIED, ALREADY or GAVE_UP once settled
    bind_challenge: str | None = None
    bind_enterprise: str | None = None  # the company's name, for the code question

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        # A slot may hold anything Rasa put there; only text means something here.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) else None


class PolicyDialogue:
    def __init__(self, catalog: Catalog, policies: PolicyCatalog, today: date, verifier: binding.Verifier) -> None:
        self.say = catalog.wording.render
        self.policies = policies
        self.today = today
        self.verifier = verifier

    # --- helpers -------------------------------------------------------------------------

    def _text(self, key: str, **context: Any) -> m.TextMessage:
        return m.TextMessage(text=self.say(key, **context))

    def _busy(self, session: Session, user_id: str, what: str) -> Reply:
        session.rollback()
        log.exception("policy dialogue: %s failed (user %s)", what, mask(user_id))
        return Reply(messages=[self._text("policy_busy")])

    def _not_bound(self) -> Reply:
        choice = m.Choice(title="绑定企业", payload=payload("bind_company"))
        return Reply(messages=[m.ChoicesMessage(text=self.say("policy_not_bound"), choices=[choice])])

    def _items(self, session: Session, user_id: str) -> list[service.UserMatch]:
        return service.user_matches(session, self.policies, user_id, self.today)

    @staticmethod
    def _named(items: list[service.UserMatch], text: str) -> service.UserMatch | None:
        """The one policy the text names (by its number in the list, title, short title or keywords)."""
        if not text or _is_payload(text):
            return None
        numbers = numbers_in(text)
        if len(numbers) == 1 and 1 <= numbers[0] <= len(items) and len(normalize(text)) <= 12:
            return items[numbers[0] - 1]
        norm = normalize(text)
        found = []
        for item in items:
            names = (item.policy.title, item.policy.short_title or "", *item.policy.keywords)
            if any(n and normalize(n) in norm for n in names):
                found.append(item)
        return found[0] if len(found) == 1 else None

    def _info(self, item: service.UserMatch) -> m.PolicyInfo:
        return m.PolicyInfo.model_validate(service.policy_info(item, self.today))

    @staticmethod
    def _label(item: service.UserMatch, several: bool) -> str:
        name = item.policy.short_title or item.policy.title
        return f"{name}（{item.enterprise.name}）" if several else name

    # --- the list --------------------------------------------------------------------------

    def listing(self, session: Session, user_id: str, text: str = "") -> Reply:
        """“我们公司能享受哪些政策”: the policies with reasons; one named policy opens at once."""
        try:
            bound = binding.bindings_of(session, user_id)
            if not bound:
                return self._not_bound()
            items = self._items(session, user_id)
            if named := self._named(items, text):
                return self._detail(session, named)
            near = service.user_near_misses(session, self.policies, user_id, self.today)
        except SQLAlchemyError:
            return self._busy(session, user_id, "listing")
        several = len(bound) > 1
        messages: list[m.Message] = [
            self._text("policy_list_intro", enterprises=[e.name for _, e in bound], count=len(items)),
            m.PoliciesMessage(policies=[self._info(i) for i in items]),
        ]
        if near:
            messages.append(self._text("policy_near_misses", near=near, several=several))
        if items:
            choices = [
                m.Choice(title=f"查看：{self._label(i, several)}", payload=payload("open_policy", match_id=str(i.match.id)))
                for i in items
            ]
            messages.append(m.ChoicesMessage(text=self.say("policy_open_which"), choices=choices))
        return Reply(messages=messages)

    # --- one policy ------------------------------------------------------------------------

    def _detail(self, session: Session, item: service.UserMatch) -> Reply:
        detail = service.detail(session, item, self.today)
        dates = {"valid_from": cn_date(detail["valid_from"]), "valid_until": cn_date(detail["valid_until"])}
        messages: list[m.Message] = [self._text("policy_detail", policy=detail, **dates)]
        apply = detail["apply"]
        if apply and re.match(r"https?://", apply.get("online") or ""):
            messages.append(m.LinkMessage(title=f"网上申请：{item.policy.short_title or item.policy.title}", url=apply["online"]))
        match_id = str(item.match.id)
        choices = []
        if detail["actions"]["confirm"]:
            choices.append(m.Choice(title="确认申领", payload=payload("confirm_claim", match_id=match_id)))
        if detail["actions"]["decline"] and detail["status"] != MatchStatus.DECLINED:
            choices.append(m.Choice(title="不适用", payload=payload("decline_claim", match_id=match_id)))
        choices.append(m.Choice(title="返回政策列表", payload=payload("ask_policies")))
        prompt = self.say("policy_claim_prompt", policy=detail)
        messages.append(m.ChoicesMessage(text=prompt, choices=choices))
        return Reply(messages=messages, slots={"policy_match_id": match_id})

    def _pick(self, session: Session, user_id: str, ref: str | None, text: str) -> service.UserMatch | None:
        """The match a button (its id) or the user's words point at; None when neither says."""
        if ref and ref.strip().isdigit():
            return service.get_user_match(session, self.policies, user_id, int(ref))
        return self._named(self._items(session, user_id), text)

    def open(self, session: Session, user_id: str, match_id: str | None, text: str) -> Reply:
        """A policy's detail with 确认申领 / 不适用; the list when it is unclear which one."""
        try:
            if not binding.bindings_of(session, user_id):
                return self._not_bound()
            item = self._pick(session, user_id, match_id, text)
            if item is None:
                reply = self.listing(session, user_id)
                reply.messages.insert(0, self._text("policy_which"))
                return reply
            return self._detail(session, item)
        except service.PolicyError as exc:
            session.rollback()
            return Reply(messages=[self._text("policy_failed", error=exc.message)], slots={"policy_match_id": None})
        except SQLAlchemyError:
            return self._busy(session, user_id, "detail")

    def _change(self, session: Session, user_id: str, action: Literal["confirm", "decline"], match_id: str | None,
                state: PolicyState, text: str) -> Reply:
        try:
            if not binding.bindings_of(session, user_id):
                return self._not_bound()
            item = None
            # A button names its match; typed words name a policy, else mean the one last opened.
            if match_id:
                item = self._pick(session, user_id, match_id, "")
            else:
                item = self._named(self._items(session, user_id), text)
                if item is None and state.policy_match_id:
                    item = self._pick(session, user_id, state.policy_match_id, "")
            if item is None:
                return self._ask_which(session, user_id, action)
            item = service.get_user_match(session, self.policies, user_id, item.match.id, lock=True)
            if action == "confirm":
                changed = service.confirm(session, item, user_id)
            else:
                reason = text.strip()[:500] if text.strip() and not _is_payload(text) else None
                changed = service.decline(session, item, user_id, reason)
            session.commit()
        except service.PolicyError as exc:
            session.rollback()
            return Reply(messages=[self._text("policy_failed", error=exc.message)])
        except SQLAlchemyError:
            return self._busy(session, user_id, action)
        key = {"confirm": "policy_confirmed", "decline": "policy_declined"}[action]
        detail = {"title": item.policy.title, "department": item.policy.department, "enterprise": item.enterprise.name,
                  "claim": item.policy.claim.model_dump() if item.policy.claim else None}
        text_out = self.say(key, policy=detail, changed=changed)
        return Reply(messages=[m.TextMessage(text=text_out)], slots={"policy_match_id": str(item.match.id)})

    def _ask_which(self, session: Session, user_id: str, action: Literal["confirm", "decline"]) -> Reply:
        items = self._items(session, user_id)
        if action == "confirm":
            items = [i for i in items if i.policy.kind != "manual" and i.match.status in (*service.OPEN, MatchStatus.DECLINED)]
        else:
            items = [i for i in items if i.match.status not in (MatchStatus.DECLINED, MatchStatus.PAID)]
        if not items:
            return Reply(messages=[self._text("policy_nothing_to_change", action=action)])
        several = len({i.enterprise.id for i in items}) > 1
        intent, verb = ("confirm_claim", "确认申领") if action == "confirm" else ("decline_claim", "不适用")
        choices = [m.Choice(title=f"{verb}：{self._label(i, several)}", payload=payload(intent, match_id=str(i.match.id)))
                   for i in items]
        return Reply(messages=[m.ChoicesMessage(text=self.say("policy_change_which", action=action), choices=choices)])

    def confirm(self, session: Session, user_id: str, match_id: str | None, state: PolicyState, text: str) -> Reply:
        """确认申领 (matched / notified / declined → confirmed); a repeat changes nothing."""
        return self._change(session, user_id, "confirm", match_id, state, text)

    def decline(self, session: Session, user_id: str, match_id: str | None, state: PolicyState, text: str) -> Reply:
        """不适用, with the user's words as the reason when they typed more than a button."""
        return self._change(session, user_id, "decline", match_id, state, text)

    # --- binding ---------------------------------------------------------------------------

    def _challenge(self, session: Session, user_id: str, channel: str, code: str) -> tuple[Reply, bool]:
        """Start a verification for ``code``: the reply and whether binding can go on in the form."""
        try:
            started = binding.start(session, self.verifier, user_id, channel, code)
            session.commit()
        except binding.BindingError as exc:
            session.rollback()
            if exc.status_code == 409 and "无需重复绑定" in exc.message:
                return Reply(messages=[self._text("policy_bind_failed", error=exc.message)],
                             slots={"bind_uscc": code, "bind_code": ALREADY}), False
            if exc.status_code in (409, 429):  # too many companies, or too many codes this hour
                return Reply(messages=[self._text("policy_bind_failed", error=exc.message)],
                             slots={"bind_uscc": GAVE_UP, "bind_code": GAVE_UP}), False
            key = "policy_bind_uscc_invalid" if exc.status_code == 422 else "policy_bind_uscc_unknown"
            return Reply(messages=[self._text(key, error=exc.message)], slots={"bind_uscc": None}), True
        except SQLAlchemyError:
            reply = self._busy(session, user_id, "binding start")
            reply.slots = {"bind_uscc": None}
            return reply, True
        text = self.say("policy_bind_code_sent", enterprise=started.enterprise.name, hint=started.hint)
        slots = {"bind_uscc": started.enterprise.uscc, "bind_challenge": started.challenge_id,
                 "bind_enterprise": started.enterprise.name, "bind_code": None}
        return Reply(messages=[m.TextMessage(text=text)], slots=slots), True

    def bind_start(self, session: Session, user_id: str, channel: str, text: str) -> Reply:
        """“绑定企业” (maybe with the code): fresh binding slots; a code in the words starts the verification."""
        code = code_in(text) if text and not _is_payload(text) else None
        intro = self._text("policy_bind_start", code_given=code is not None)
        if code is None:
            return Reply(messages=[intro], slots=_fresh_binding("asking"))
        reply, go_on = self._challenge(session, user_id, channel, code)
        slots = {**_fresh_binding("asking" if go_on else "done"), **reply.slots}
        messages = [intro, *reply.messages]
        if not go_on:  # settled at once: the form does not run, so say the outcome here
            done = self.bind_done(session, user_id, PolicyState.model_validate(slots))
            messages += done.messages
            slots.update({k: v for k, v in done.slots.items() if k != "bind_status"})
        return Reply(messages=messages, slots=slots)

    def bind_prompt(self, slot: BindSlot, state: PolicyState) -> Reply:
        stop = m.Choice(title="算了", payload=payload("stop"))
        if slot == "bind_uscc":
            return Reply(messages=[m.ChoicesMessage(text=self.say("policy_bind_ask_uscc"), choices=[stop])])
        choices = [
            m.Choice(title="重新发送验证码", payload=payload("choose", choice=RESEND)),
            m.Choice(title="换一家企业", payload=payload("choose", choice=OTHER)),
            stop,
        ]
        text = self.say("policy_bind_ask_code", enterprise=state.bind_enterprise, waiting=state.bind_challenge is not None)
        return Reply(messages=[m.ChoicesMessage(text=text, choices=choices)])

    def bind_interpret(self, session: Session, slot: BindSlot, user_id: str, channel: str, state: PolicyState,
                       text: str, choice: str | None) -> Reply:
        """The user's answer for ``slot``: the slot's value, or None (with a note) to ask again."""
        text = (text or "").strip()
        if choice is None and _is_payload(text):
            text = ""  # a button of some other step: not an answer to this one
        if slot == "bind_uscc":
            code = code_in(text) if choice is None else None
            if code is None:
                return Reply(messages=[self._text("policy_bind_uscc_missing")], slots={"bind_uscc": None})
            return self._challenge(session, user_id, channel, code)[0]
        flat = _flat(text)
        if choice == OTHER or (choice is None and any(w in flat for w in _OTHER_WORDS)):
            return Reply(slots={"bind_uscc": None, "bind_code": None, "bind_challenge": None, "bind_enterprise": None})
        new_code = code_in(text) if choice is None else None
        if new_code and len(new_code) == 18:  # a company's code again: start over with it
            return self._challenge(session, user_id, channel, new_code)[0]
        if choice == RESEND or (choice is None and any(w in flat for w in _RESEND_WORDS)):
            if not state.bind_uscc or state.bind_uscc == GAVE_UP:
                return Reply(slots={"bind_uscc": None, "bind_code": None})
            return self._challenge(session, user_id, channel, state.bind_uscc)[0]
        digits = _DIGITS.findall(flat) if choice is None else []
        if len(digits) != 1:
            return Reply(messages=[self._text("policy_bind_code_missing")], slots={"bind_code": None})
        if not state.bind_challenge:
            return Reply(messages=[self._text("policy_bind_code_restart", error="验证码已失效")], slots={"bind_code": None})
        return self._verify(session, user_id, state, digits[0])

    def _verify(self, session: Session, user_id: str, state: PolicyState, code: str) -> Reply:
        try:
            _binding, enterprise = binding.verify(session, user_id, state.bind_challenge or "", code)
            session.commit()
        except binding.BindingError as exc:
            session.commit()  # a wrong code still counts as a try
            if exc.status_code == 422 and "再试" in exc.message:
                return Reply(messages=[self._text("policy_bind_code_wrong", error=exc.message)], slots={"bind_code": None})
            if exc.status_code == 409:  # verified already (a retried message): bound if the binding is there
                bound = {e.uscc for _, e in binding.bindings_of(session, user_id)}
                if state.bind_uscc in bound:
                    return Reply(slots={"bind_code": VERIFIED})
            # expired, too many wrong codes, or unknown: a new code is needed
            return Reply(messages=[self._text("policy_bind_code_restart", error=exc.message)],
                         slots={"bind_code": None, "bind_challenge": None})
        except SQLAlchemyError:
            reply = self._busy(session, user_id, "binding verify")
            reply.slots = {"bind_code": None}
            return reply
        return Reply(slots={"bind_code": VERIFIED, "bind_uscc": enterprise.uscc, "bind_enterprise": enterprise.name,
                            "bind_challenge": None})

    def bind_done(self, session: Session, user_id: str, state: PolicyState) -> Reply:
        """The form is over: bound (then the policies at once), bound before, or not possible now."""
        slots = _fresh_binding()
        if state.bind_code == VERIFIED:
            reply = self.listing(session, user_id)
            bound = self._text("policy_bound", enterprise=state.bind_enterprise or state.bind_uscc)
            return Reply(messages=[bound, *reply.messages], slots=slots)
        if state.bind_code == ALREADY:
            return Reply(messages=self.listing(session, user_id).messages, slots=slots)
        return Reply(messages=[self._text("policy_bind_unfinished")], slots=slots)

    def bind_stop(self) -> Reply:
        """“算了” in the middle of binding."""
        return Reply(messages=[self._text("policy_bind_stopped")], slots=_fresh_binding())

    # --- unbinding -------------------------------------------------------------------------

    def unbind(self, session: Session, user_id: str, uscc: str | None, text: str) -> Reply:
        """A button (or a typed code) unbinds that company; otherwise a button per bound company."""
        code = uscc or (code_in(text) if text and not _is_payload(text) else None)
        try:
            bound = binding.bindings_of(session, user_id)
            if not bound:
                return Reply(messages=[self._text("policy_unbind_none")])
            if code is None:
                choices = [m.Choice(title=f"解绑：{e.name}", payload=payload("unbind_company", uscc=e.uscc)) for _, e in bound]
                text = self.say("policy_unbind_which", enterprises=[e.name for _, e in bound])
                return Reply(messages=[m.ChoicesMessage(text=text, choices=choices)])
            enterprise = binding.unbind(session, user_id, code)
            name = enterprise.name
            session.commit()
        except binding.BindingError as exc:
            session.rollback()
            return Reply(messages=[self._text("policy_failed", error=exc.message)])
        except SQLAlchemyError:
            return self._busy(session, user_id, "unbind")
        return Reply(messages=[self._text("policy_unbound", enterprise=name)], slots={"policy_match_id": None})
