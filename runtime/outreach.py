"""The runner's sweeps that reach out: reminders to quiet students, notices to teachers.

Neither sends anything itself. Each claims its rows with FOR UPDATE SKIP LOCKED (any number
of runners share them), and writes what is due as events into the chats' inboxes in the
same transaction; the journal sends them in each chat's order (DESIGN §5 "One writer").
A crash before commit leaves the work due; after it, the events wait in the inbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from runtime.outreach_texts import digest_text, event_text
from storage import reminders, teacher_notices
from storage.db import Database
from storage.teacher_notices import Subscription

log = logging.getLogger(__name__)


class OutreachSweeps:
    """`look_again`: how soon a rule or an opt-in is looked at again after a look (a nudge
    or a notice may come this much late). Every `interval_s` a look claims what is due; with
    nothing due that is one indexed query each."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        interval_s: float = 1.0,
        look_again: timedelta = timedelta(minutes=1),
        batch: int = 100,
        runs_per_rule: int = 1000,
    ) -> None:
        self._db = db
        self._clock = clock
        self._interval_s = interval_s
        self._look_again = look_again
        self._batch = batch
        self._runs_per_rule = runs_per_rule

    async def remind(self) -> int:
        """One look at the reminder rules due one; how many nudges were queued."""
        async with self._db.system() as session:
            return await reminders.post_due(
                session,
                self._clock(),
                rules=self._batch,
                runs=self._runs_per_rule,
                look_again=self._look_again,
            )

    async def notify(self) -> int:
        """One look at the members' opt-ins due one; how many messages were queued."""
        now = self._clock()
        told = 0
        async with self._db.system() as session:
            subs = await teacher_notices.claim(session, now, self._batch)
            for sub in subs:
                if sub.digest_hour is None:
                    for event in await teacher_notices.new_events(session, sub, now):
                        text = event_text(event, sub.course_title, sub.language)
                        await teacher_notices.tell(session, sub, text)
                        told += 1
                elif (day := digest_day(sub, now)) is not None:
                    digest = await teacher_notices.digest(session, sub, now)
                    text = digest_text(digest, sub.course_title, sub.language)
                    await teacher_notices.tell(session, sub, text)
                    await teacher_notices.mark_digest_sent(session, sub, day)
                    told += 1
            if subs:
                await teacher_notices.look_again(
                    session, [s.id for s in subs], now + self._look_again
                )
        return told

    async def run(self) -> None:
        while True:
            for name, sweep in (("reminders", self.remind), ("notifications", self.notify)):
                try:
                    await sweep()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s sweep failed; retrying", name)
            await asyncio.sleep(self._interval_s)


def digest_day(sub: Subscription, now: datetime) -> date | None:
    """The local day whose digest is due now (its hour has come in the account's zone and
    it was not sent), else None. The day the member opted in counts only if they did so
    before its hour."""
    assert sub.digest_hour is not None
    zone = ZoneInfo(sub.time_zone)
    local = now.astimezone(zone)
    if local.hour < sub.digest_hour:
        return None
    today = local.date()
    if sub.last_digest_on is not None and sub.last_digest_on >= today:
        return None
    due_at = datetime.combine(today, time(sub.digest_hour), tzinfo=zone)
    if sub.last_digest_on is None and sub.created_at >= due_at:
        return None
    return today
