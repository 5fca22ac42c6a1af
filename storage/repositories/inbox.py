"""The inbox (table processed_update), as the runtime's database lane reads it.

The journal stores Telegram's updates before Telegram is acknowledged (storage/batch.py;
(bot_id, update_id) is unique, so a redelivered update is dropped), and other producers
write their events beside them (storage/inbox_events.py).
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate

# Built once: the database lane runs it for every row it reads (building a statement
# costs about as much CPU as executing it, docs/benchmarks.md).
_OLDEST_IN_CHAT = (
    select(ProcessedUpdate)
    .where(
        ProcessedUpdate.account_id == bindparam("account_id"),
        ProcessedUpdate.bot_id == bindparam("bot_id"),
        ProcessedUpdate.chat_id == bindparam("chat_id"),
        ProcessedUpdate.processed_at.is_(None),
    )
    .order_by(ProcessedUpdate.update_id)
    .limit(bindparam("limit"))
)


async def oldest_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, *, limit: int
) -> list[ProcessedUpdate]:
    """The chat's `limit` oldest unprocessed inbox rows, in update_id order, the order a
    chat's rows are handled in: its events as they were written, then Telegram's updates in
    Telegram's order. Asking for two tells a worker whether another row is waiting without
    one more transaction just to find out there is none."""
    params = {"account_id": account_id, "bot_id": bot_id, "chat_id": chat_id, "limit": limit}
    return list((await session.scalars(_OLDEST_IN_CHAT, params)).all())
