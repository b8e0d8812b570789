"""惠企政策 免申即享 notices pushed to the users bound to a matching enterprise (issue 5, point 5).

One message per (policy, enterprise, user): the match id stands for the policy and the enterprise
(``policy_matches`` is unique on both), so the push subject is ``policy:{match_id}:{user_id}`` and
the push log's key (subject + method) makes the send at most once, whichever worker runs it and
however often it is enqueued. Which way, by the channel the user bound from:

- official account (``wechat``): a template message (``WECHAT_TEMPLATE_POLICY_NOTICE``);
- mini-program (``mp``): a subscribe message (``MP_TEMPLATE_POLICY_NOTICE``, opening ``MP_POLICY_PAGE``).

A channel without its template id is not pushed at all (and the sweep leaves its users alone, so
they wait at no one's expense); its matches show in the chat instead. The fields come from the
``policy_notice`` section of guides/templates/wechat/push.yml.

After the send: sent, or possibly sent (``unknown``: never repeated), is recorded as notified
(``mark_notified``); refused for good (unfollowed, refused subscribe messages) stays in the push
log as ``refused`` and the sweep never enqueues it again; a transient error is retried by the job
with backoff, then ``failed`` (likewise left alone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import Engine, String, cast, exists, literal
from sqlalchemy.orm import Session

from bot.policies import service
from bot.policies.catalog import PolicyCatalog
from bot.policies.models import Binding, PolicyMatch
from bot.policies.schema import KIND_LABELS
from bot.push.models import FAILED, REFUSED, SENT, UNKNOWN, PushRecord
from bot.push.sender import Method, Outcome, Push, PushSender
from bot.push.wording import PushWording
from bot.store.privacy import mask

log = logging.getLogger(__name__)

KIND = "policy_notice"
CHANNEL_METHODS: dict[str, Method] = {"wechat": "template", "mp": "subscribe"}

Delivery = Literal["sent", "unknown", "done", "busy", "refused", "retry", "failed", "unconfigured", "gone"]


def subject(match_id: int, user_id: str) -> str:
    return f"policy:{match_id}:{user_id}"


@dataclass(frozen=True)
class PolicyPushSettings:
    template_id: str | None  # 公众号 template message
    subscribe_template_id: str | None  # 小程序 subscribe message
    subscribe_page: str | None = None  # the mini-program page it opens; ``?match_id=`` is appended


class PolicyPush:
    def __init__(
        self,
        engine: Engine,
        sender: PushSender,
        catalog: Callable[[], PolicyCatalog],
        fields: PushWording,
        settings: PolicyPushSettings,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.catalog = catalog
        self.fields = fields
        self.settings = settings
        self.today = today

    def method_for(self, channel: str) -> Method | None:
        """How a user of ``channel`` is told; None when that channel has no template configured."""
        method = CHANNEL_METHODS.get(channel)
        template_id = {"template": self.settings.template_id, "subscribe": self.settings.subscribe_template_id}.get(method or "")
        return method if method is not None and template_id and self.sender.can_send(method) else None

    def channels(self) -> list[str]:
        return [c for c in CHANNEL_METHODS if self.method_for(c) is not None]

    def due(self, limit: int) -> list[service.PendingNotice]:
        """Notices to enqueue: not yet told, on a channel that can be pushed, not given up on.

        A subject whose push was refused for good or failed after every retry is left out here, in
        SQL, so it can neither be sent again nor hold the head of the queue.
        """
        channels = self.channels()
        if not channels:
            return []
        key_subject = literal("policy:") + cast(PolicyMatch.id, String) + literal(":") + Binding.user_id
        given_up = exists().where(PushRecord.subject == key_subject, PushRecord.status.in_((REFUSED, FAILED)))
        with Session(self.engine) as session:
            return service.pending_notifications(
                session, self.catalog(), self.today(), limit, where=Binding.channel.in_(channels) & ~given_up,
            )

    async def deliver(self, notice: service.PendingNotice, *, last_try: bool = False) -> Delivery:
        method = self.method_for(notice.channel)
        if method is None:
            log.warning("policy notice for %s not pushed: no %s template configured for channel %s",
                        mask(notice.user_id), CHANNEL_METHODS.get(notice.channel, "?"), notice.channel)
            return "unconfigured"
        policy = self.catalog().get(notice.policy_id)
        if policy is None:  # withdrawn since the sweep: nothing to tell
            return "gone"
        context = {
            "title": notice.title, "short_title": policy.short_title or notice.title, "enterprise": notice.enterprise_name,
            "uscc": notice.uscc, "why": list(notice.why), "benefit": notice.benefit,
            "kind": KIND_LABELS.get(notice.kind, notice.kind),
        }
        about = subject(notice.match_id, notice.user_id)
        if method == "template":
            push = Push(about, KIND, notice.user_id, method, template_id=self.settings.template_id,
                        data=self.fields.fields(KIND, method, **context))
        else:
            page = self.settings.subscribe_page
            push = Push(about, KIND, notice.user_id, method, template_id=self.settings.subscribe_template_id,
                        data=self.fields.fields(KIND, method, **context),
                        link=f"{page}{'&' if '?' in page else '?'}match_id={notice.match_id}" if page else None)
        result = await self.sender.send(push)
        outcome = result.outcome
        if outcome is Outcome.SKIPPED:
            # Someone ran this push before: what it ended as decides (sent or possibly sent → notified).
            status = await asyncio.to_thread(self.sender.status, push.key)
            if status in (SENT, UNKNOWN):
                await asyncio.to_thread(self._notified, notice)
                return "done"
            return "refused" if status in (REFUSED, FAILED) else "busy"  # busy: another run holds it
        if outcome in (Outcome.SENT, Outcome.UNKNOWN):
            # Unknown too: WeChat may have delivered it, and at most once wins over at least once.
            await asyncio.to_thread(self._notified, notice)
            log.info("policy %s notice to %s: %s", notice.policy_id, mask(notice.user_id), outcome.value)
            return "sent" if outcome is Outcome.SENT else "unknown"
        if outcome is Outcome.REFUSED:
            log.info("policy %s notice refused by WeChat for %s (errcode %s); not retried",
                     notice.policy_id, mask(notice.user_id), result.errcode)
            return "refused"
        if last_try:
            await asyncio.to_thread(self.sender.give_up, push.key)
            return "failed"
        return "retry"

    def _notified(self, notice: service.PendingNotice) -> None:
        with Session(self.engine) as session:
            service.mark_notified(session, notice.match_id, notice.user_id, notice.channel)
            session.commit()
