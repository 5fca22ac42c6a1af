"""The durable send queue, as delivery reads it and records failures. Effects become rows
in the journal's transaction that advanced the run (storage/batch.py), so a crash between
step() and the Bot API call re-sends instead of silently losing a message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox, OutboxStatus
from storage.repositories._common import rows_changed

# Built once: these run for every message (building a statement costs about as much CPU as
# executing it, docs/benchmarks.md).
_OUTBOX = Outbox.__table__
_PENDING_FOR_CHAT = (
    select(Outbox)
    .where(
        Outbox.account_id == bindparam("account_id"),
        Outbox.bot_id == bindparam("bot_id"),
        Outbox.chat_id == bindparam("chat_id"),
        Outbox.status == OutboxStatus.PENDING.value,
    )
    .order_by(Outbox.id)
    .limit(bindparam("limit"))
)


# What a row given up because the student blocked the bot says; a broadcast's recipient
# whose row fails with it counts as blocked (migration 0019's trigger matches this text).
BLOCKED_ERROR = "blocked by the user"


async def mark_failed(
    session: AsyncSession, account_id: int, outbox_id: int, *, error: str, final: bool
) -> bool:
    """Record a failed attempt of a pending row; `final` gives up (e.g. 403), otherwise it
    stays pending. False when the row was no longer pending (its run's stop dropped it)."""
    values: dict[str, Any] = {"attempts": Outbox.attempts + 1, "last_error": error}
    if final:
        values["status"] = OutboxStatus.FAILED.value
    stmt = (
        update(Outbox)
        .where(
            Outbox.account_id == account_id,
            Outbox.id == outbox_id,
            Outbox.status == OutboxStatus.PENDING.value,
        )
        .values(**values)
    )
    return await rows_changed(session, stmt) > 0


async def pending_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, *, limit: int = 20
) -> list[Outbox]:
    """The chat's unsent rows in order; the runtime delivers one chat from one task at a time."""
    params = {"account_id": account_id, "bot_id": bot_id, "chat_id": chat_id, "limit": limit}
    return list((await session.scalars(_PENDING_FOR_CHAT, params)).all())


async def fail_pending_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, *, error: str
) -> int:
    """Give up every unsent row of a chat (the student blocked the bot)."""
    stmt = (
        update(Outbox)
        .where(
            Outbox.account_id == account_id,
            Outbox.bot_id == bot_id,
            Outbox.chat_id == chat_id,
            Outbox.status == OutboxStatus.PENDING.value,
        )
        .values(status=OutboxStatus.FAILED.value, last_error=error)
    )
    return await rows_changed(session, stmt)
