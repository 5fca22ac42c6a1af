"""Where each student stands, mirrored into Redis for operators and tools, in batches.

The keys are the bots' aiogram FSM state keys (`cb:<account>:<bot>:<chat>:<user>:default:state`,
adapters/telegram/keys.py), so `make_storage(redis, account, bot).get_state(key)` reads them.
They are a cache only: PostgreSQL is the source of truth, and flushing Redis loses nothing.
So the hot path never waits for Redis: positions are collected (the latest per key wins) and
written by one MSET and one DEL per interval; one round trip per update cost a noticeable
share of an update's CPU (docs/benchmarks.md). A Redis outage only loses mirror writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class PositionMirror:
    def __init__(self, redis: Redis, *, interval_s: float = 0.05) -> None:
        self._redis = redis
        self._interval_s = interval_s
        self._pending: dict[str, str | None] = {}  # key -> state, None: delete
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def put(self, key: str, state: str | None) -> None:
        self._pending[key] = state
        self._arrived.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="position-mirror")

    async def stop(self) -> None:
        """Write what is still pending, then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            await self.flush()
            await asyncio.sleep(self._interval_s)

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        self._arrived.clear()
        if not pending:
            return
        states = {key: state for key, state in pending.items() if state is not None}
        gone = [key for key, state in pending.items() if state is None]
        pipeline = self._redis.pipeline(transaction=False)
        if states:
            pipeline.mset(states)
        if gone:
            pipeline.delete(*gone)
        try:
            await pipeline.execute()
        except (RedisError, OSError) as exc:
            log.warning("Redis mirror of %d positions skipped: %s", len(pending), exc)
