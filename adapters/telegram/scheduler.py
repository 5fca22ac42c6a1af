"""Durable timers: fire every due `waiting` row exactly once, whichever runner gets it.

A due row is claimed with FOR UPDATE SKIP LOCKED and fired in the same transaction that
advances its run, so two runners never fire one timer and a crash before commit simply
leaves it due. Rows that fell due while no runner was up fire as soon as one starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from adapters.observability.logs import log_context
from adapters.observability.metrics import observe_timer
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.transitions import apply_event
from engine.events import TimerFired
from storage import system
from storage.db import Database
from storage.repositories import runs, waiting

log = logging.getLogger(__name__)


class TimerScheduler:
    def __init__(
        self,
        db: Database,
        courses: CourseCache,
        kick: Callable[[int, int], None],
        clock: Callable[[], datetime],
        *,
        idle_interval_s: float = 0.25,
        concurrency: int = 4,
    ) -> None:
        self._db = db
        self._courses = courses
        self._kick = kick
        self._clock = clock
        self._idle_interval_s = idle_interval_s
        # Firing is a chain of round trips to PostgreSQL; one loop alone fired ~60 timers/s
        # here while 10,000 falling due per minute need ~170/s (docs/benchmarks.md). SKIP
        # LOCKED lets loops share the work as it lets runners share it.
        self._concurrency = concurrency

    async def fire_one(self) -> bool:
        """Fire one due timer; False when none is due."""
        now = self._clock()
        target: tuple[int, int] | None = None
        lateness: float | None = None
        async with self._db.system() as session:
            claimed = await system.claim_due_wait(session, now)
            if claimed is None:
                return False
            account_id = claimed.account_id
            fired = await waiting.mark_fired(session, account_id, claimed.waiting_id, now=now)
            run = await runs.lock(session, account_id, claimed.run_id)
            if fired is not None and run is not None and run.is_active:
                course = await self._courses.get(session, account_id, run.course_version_id)
                with log_context(
                    account_id=account_id, bot_id=run.bot_id, chat_id=run.chat_id, run_id=run.id
                ):
                    await apply_event(session, run, course, TimerFired(fired.wait_id), now)
                target = (run.bot_id, run.chat_id)
                lateness = (now - fired.due_at).total_seconds()
        if lateness is not None:
            observe_timer(lateness)
        if target is not None:
            self._kick(*target)
        return True

    async def run(self) -> None:
        await asyncio.gather(*(self._fire_loop() for _ in range(self._concurrency)))

    async def _fire_loop(self) -> None:
        while True:
            try:
                while await self.fire_one():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer scheduler failed; retrying")
            await asyncio.sleep(self._idle_interval_s)
