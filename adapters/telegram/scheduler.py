"""Durable timers: fire every due `waiting` row exactly once, whichever runner gets it.

A due row is claimed with FOR UPDATE SKIP LOCKED and fired in the same transaction that
advances its run, so two runners never fire one timer and a crash before commit simply
leaves it due. Rows that fell due while no runner was up fire as soon as one starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.observability.logs import log_context
from adapters.observability.metrics import observe_timer
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.transitions import apply_event
from engine.events import TimerFired
from storage import system
from storage.db import Database, bind_tenant, is_transient_failure
from storage.repositories import runs, waiting
from storage.system import ClaimedWait

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Fired:
    bot_id: int
    chat_id: int
    lateness_s: float


class TimerScheduler:
    def __init__(
        self,
        db: Database,
        courses: CourseCache,
        kick: Callable[[int, int], None],
        clock: Callable[[], datetime],
        *,
        idle_interval_s: float = 0.25,
        concurrency: int = 2,
        batch: int = 20,
    ) -> None:
        self._db = db
        self._courses = courses
        self._kick = kick
        self._clock = clock
        self._idle_interval_s = idle_interval_s
        # A transaction costs several statements' worth of work: firing one timer per
        # transaction managed ~110 timers/s here, while 10,000 falling due per minute need
        # ~170/s (docs/benchmarks.md). Loops share the work through SKIP LOCKED, as runners do.
        self._concurrency = concurrency
        self._batch = batch

    async def fire_due(self) -> int:
        """Fire up to one batch of due timers in one transaction; how many were due.

        A timer our code fails on would roll its whole batch back again and again, so a
        failed batch is fired once more with a savepoint per timer, and the failing one is
        set aside (cancelled, logged) instead of blocking every timer behind it."""
        try:
            return await self._fire_batch(guarded=False)
        except Exception as exc:
            if is_transient_failure(exc):
                raise
            log.warning("a batch of timers failed (%s); firing it one by one", exc)
            return await self._fire_batch(guarded=True)

    async def _fire_batch(self, *, guarded: bool) -> int:
        now = self._clock()
        fired: list[_Fired] = []
        async with self._db.system() as session:
            claims = await system.claim_due_waits(session, now, limit=self._batch)
            bound: int | None = None
            # By account: the session names its account once per account, not per timer.
            for claim in sorted(claims, key=lambda c: c.account_id):
                if claim.account_id != bound:
                    await bind_tenant(session, claim.account_id)
                    bound = claim.account_id
                if not guarded:
                    result = await self._fire(session, claim, now)
                else:
                    try:
                        async with session.begin_nested():
                            result = await self._fire(session, claim, now)
                    except Exception as exc:
                        if is_transient_failure(exc):
                            raise
                        log.exception(
                            "timer %s of run %s failed; set aside", claim.waiting_id, claim.run_id
                        )
                        await waiting.cancel_one(session, claim.account_id, claim.waiting_id)
                        continue
                if result is not None:
                    fired.append(result)
        for timer in fired:
            observe_timer(timer.lateness_s)
            self._kick(timer.bot_id, timer.chat_id)
        return len(claims)

    async def _fire(
        self, session: AsyncSession, claim: ClaimedWait, now: datetime
    ) -> _Fired | None:
        account_id = claim.account_id
        fired = await waiting.mark_fired(session, account_id, claim.waiting_id, now=now)
        run = await runs.lock(session, account_id, claim.run_id)
        if fired is None or run is None or not run.is_active:
            return None
        course = await self._courses.get(session, account_id, run.course_version_id)
        with log_context(
            account_id=account_id, bot_id=run.bot_id, chat_id=run.chat_id, run_id=run.id
        ):
            await apply_event(session, run, course, TimerFired(fired.wait_id), now)
        return _Fired(run.bot_id, run.chat_id, (now - fired.due_at).total_seconds())

    async def run(self) -> None:
        await asyncio.gather(*(self._fire_loop() for _ in range(self._concurrency)))

    async def _fire_loop(self) -> None:
        while True:
            try:
                while await self.fire_due() >= self._batch:
                    pass  # a full batch: more are probably due
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer scheduler failed; retrying")
            await asyncio.sleep(self._idle_interval_s)
