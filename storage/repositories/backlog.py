"""Chats of a bot with work left: unprocessed updates or unsent messages.

The runtime's sweep asks this of every hosted bot in turn (a crash, a Telegram outage or
another runner may leave work behind), so it is one statement built once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CHATS_WITH_WORK = text(
    """
    SELECT DISTINCT chat_id, true AS inbox FROM processed_update
    WHERE account_id = :account_id AND bot_id = :bot_id AND processed_at IS NULL
      AND chat_id IS NOT NULL
    UNION ALL
    SELECT DISTINCT chat_id, false FROM outbox
    WHERE account_id = :account_id AND bot_id = :bot_id AND status = 'pending'
    """
)


@dataclass(frozen=True)
class ChatsWithWork:
    inbox: set[int]  # chats with stored, unprocessed updates
    outbox: set[int]  # chats with unsent messages


async def chats_with_work(session: AsyncSession, account_id: int, bot_id: int) -> ChatsWithWork:
    rows = await session.execute(_CHATS_WITH_WORK, {"account_id": account_id, "bot_id": bot_id})
    inbox: set[int] = set()
    outbox: set[int] = set()
    for chat_id, in_inbox in rows:
        (inbox if in_inbox else outbox).add(chat_id)
    return ChatsWithWork(inbox, outbox)
