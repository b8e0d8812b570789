"""Quiet hours: proactive messages wait until morning (Beijing time), whatever the server's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str | None) -> QuietHours | None:
        """"22:00-08:00" (may cross midnight); empty means none. ValueError for anything else."""
        if not text or not text.strip():
            return None
        match = _SPAN.match(text)
        if not match:
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = time(h1, m1), time(h2, m2)  # ValueError for 25:00 and the like
        if start == end:
            raise ValueError("quiet hours start and end at the same time")
        return cls(start, end)

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(BEIJING).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime) -> datetime | None:
        """When sending may resume, if ``moment`` is inside the quiet hours; None if it is not."""
        if not self.contains(moment):
            return None
        local = moment.astimezone(BEIJING)
        resume = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if resume <= local:
            resume += timedelta(days=1)
        return resume.astimezone(moment.tzinfo)
