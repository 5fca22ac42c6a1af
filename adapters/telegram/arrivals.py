"""The fast lane's memory: each chat's stored, not yet handled updates, in arrival order.

Only a hint. The journal claims an update only while it is its chat's oldest unprocessed
one, so a stale or missing entry costs a read from the database lane, never a wrong order.
A chat flooding the bot is capped: past the cap, its updates wait in the inbox alone.
"""

from __future__ import annotations

from collections import deque

from runtime.journal_items import Arrival

MAX_PER_CHAT = 256


class Arrivals:
    def __init__(self, max_per_chat: int = MAX_PER_CHAT) -> None:
        self._chats: dict[int, deque[Arrival]] = {}
        self._max = max_per_chat

    def add(self, chat_id: int, arrival: Arrival) -> bool:
        """False when the chat's queue is full (the update is only in the inbox then)."""
        queue = self._chats.setdefault(chat_id, deque())
        if len(queue) >= self._max:
            return False
        queue.append(arrival)
        return True

    def has(self, chat_id: int) -> bool:
        return chat_id in self._chats

    def first(self, chat_id: int) -> Arrival | None:
        queue = self._chats.get(chat_id)
        return queue[0] if queue else None

    def pop_first(self, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        if queue:
            queue.popleft()
            if not queue:
                del self._chats[chat_id]

    def drop_through(self, chat_id: int, update_id: int) -> None:
        """Forget the chat's updates up to `update_id`: the database lane handled them."""
        queue = self._chats.get(chat_id)
        while queue and queue[0].update_id <= update_id:
            queue.popleft()
        if queue is not None and not queue:
            del self._chats[chat_id]
