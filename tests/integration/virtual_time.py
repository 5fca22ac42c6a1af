"""A clock for the sender that moves only when the test moves it.

Pacing is a matter of seconds; with this clock a test says exactly when a second has passed
(`advance`) and sees what went out at which virtual time, without waiting and without
timing assertions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

SETTLE_ROUNDS = 50  # event-loop turns that let every ready task run to its next wait


class SteppedClock:
    """`now()` stays put until `advance`; `sleep` returns once time passed its deadline."""

    def __init__(self) -> None:
        self.t = 0.0
        self._moved = asyncio.Event()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        deadline = self.t + seconds
        while self.t < deadline - 1e-9:
            moved = self._moved
            await moved.wait()

    async def advance(self, seconds: float) -> None:
        """Move time on, wake the sleepers it passed and let them run."""
        self.t += seconds
        self._moved.set()
        self._moved = asyncio.Event()
        await settle()


async def settle() -> None:
    """Let every task that can run do so (virtual time does not move meanwhile)."""
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)


async def eventually(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    """Wait until `condition()` holds; the timeout only stops a test that would hang."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)
