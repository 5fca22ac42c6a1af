"""Durable timers: fire every due `waiting` row exactly once, whichever runner gets it.

Firing a timer does not touch its run: a batch of due rows is claimed with FOR UPDATE SKIP
LOCKED and, in the same transaction, turned into events in their chats' inboxes
(storage/timers.py), which the journal applies like any update. So two runners never fire
one timer, a crash before commit leaves it due, and rows that fell due while no runner was
up fire as soon as one starts. The events' NOTIFY wakes the chats (migration 0010).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from observability.metrics import observe_timer
from storage import timers
from storage.db import Database

log = logging.getLogger(__name__)


class TimerScheduler:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        idle_interval_s: float = 0.25,
        concurrency: int = 2,
        batch: int = 200,
    ) -> None:
        self._db = db
        self._clock = clock
        self._idle_interval_s = idle_interval_s
        # Two statements fire a whole batch, so a transaction per timer no longer bounds the
        # rate (docs/benchmarks.md: 10,000 falling due per minute need ~170/s). Loops share
        # the work through SKIP LOCKED, as runners do.
        self._concurrency = concurrency
        self._batch = batch

    async def fire_due(self) -> int:
        """Fire up to one batch of due timers in one transaction; how many were due."""
        now = self._clock()
        async with self._db.system() as session:
            due = await timers.fire_due(session, now, limit=self._batch)
        for due_at in due:
            observe_timer((now - due_at).total_seconds())
        return len(due)

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
