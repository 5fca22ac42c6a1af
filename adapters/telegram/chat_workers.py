"""One worker task per busy chat: events of a chat run one at a time, chats in parallel.

A kick is only a hint ("this chat may have work"); the work itself is read from PostgreSQL,
so a kick lost in a crash costs nothing — start-up kicks every chat with a backlog. A kick
that arrives while the chat's worker is running makes it look once more before it exits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class ChatWorkers:
    def __init__(
        self,
        work: Callable[[Hashable], Awaitable[None]],
        *,
        slots: asyncio.Semaphore,
        name: str = "chat",
    ) -> None:
        """`slots` bounds the chats worked on at once; it may be shared by several workers
        pools (every bot of a process shares one)."""
        self._work = work
        self._slots = slots
        self._running: dict[Hashable, asyncio.Task[None]] = {}
        self._again: set[Hashable] = set()
        self._name = name
        self._closed = False

    def kick(self, chat: Hashable) -> None:
        if self._closed:
            return
        if chat in self._running:
            self._again.add(chat)
            return
        self._running[chat] = asyncio.create_task(self._drain(chat), name=f"{self._name}-{chat}")

    @property
    def busy(self) -> int:
        return len(self._running)

    async def _drain(self, chat: Hashable) -> None:
        """Run `work` until the chat is quiet, taking a slot for each round: a chat that keeps
        getting updates goes back in the queue between rounds instead of keeping its slot
        (held for a whole burst, 16 fast chats starved the rest: p99 ~130 s with 2,000
        students, docs/benchmarks.md)."""
        try:
            while True:
                self._again.discard(chat)
                async with self._slots:
                    try:
                        await self._work(chat)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception(
                            "%s worker for %s failed; it resumes on the next kick", self._name, chat
                        )
                        return
                if chat not in self._again:
                    return
        finally:
            self._running.pop(chat, None)

    async def idle(self) -> None:
        """Wait until no chat has work in progress (tests, graceful shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
