"""One worker task per busy chat: events of a chat run one at a time, chats in parallel.

A kick is only a hint ("this chat may have work"); the work itself is in PostgreSQL, so a
kick lost in a crash costs nothing — start-up kicks every chat with a backlog. A kick that
arrives while the chat's worker is running makes it look once more before it exits.
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
        enter: Callable[[Hashable], None] | None = None,
        name: str = "chat",
    ) -> None:
        """`enter` runs once at the start of each chat's task (e.g. to bind log ids there:
        the task's context ends with it)."""
        self._work = work
        self._enter = enter
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

    def is_running(self, chat: Hashable) -> bool:
        return chat in self._running

    async def _drain(self, chat: Hashable) -> None:
        """Run `work` until the chat is quiet, one round at a time: a chat that keeps getting
        updates yields to the event loop between rounds, so every other chat gets its turn."""
        try:
            if self._enter is not None:
                self._enter(chat)
            while True:
                self._again.discard(chat)
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
                await asyncio.sleep(0)
        finally:
            self._running.pop(chat, None)

    async def idle(self) -> None:
        """Wait until no chat has work in progress (tests, graceful shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self, grace_s: float = 0.0) -> None:
        """Stop: no new rounds; running ones get `grace_s` to finish (a message on its way
        then reaches Telegram and is recorded, instead of being sent again by whoever
        hosts the bot next), the rest are cancelled."""
        self._closed = True
        tasks = list(self._running.values())
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
