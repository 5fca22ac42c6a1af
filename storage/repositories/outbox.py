"""The durable send queue: effects become rows in the transaction that advanced the run,
so a crash between step() and the Bot API call re-sends instead of silently losing a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox, OutboxStatus


async def enqueue(
    session: AsyncSession,
    account_id: int,
    *,
    bot_id: int,
    chat_id: int,
    payload: Mapping[str, Any],
    run_id: int | None = None,
    flush: bool = True,
) -> Outbox:
    """`flush=False` leaves the row pending (no id yet), so a caller writing several rows
    sends them in one INSERT when the session next flushes; ids still follow call order."""
    row = Outbox(
        account_id=account_id, bot_id=bot_id, chat_id=chat_id, run_id=run_id, payload=dict(payload)
    )
    session.add(row)
    if flush:
        await session.flush()
    return row


async def take(
    session: AsyncSession, account_id: int, bot_id: int, *, limit: int = 50
) -> list[Outbox]:
    """Oldest pending messages of a bot, locked (SKIP LOCKED) until the transaction ends."""
    stmt = (
        select(Outbox)
        .where(
            Outbox.account_id == account_id,
            Outbox.bot_id == bot_id,
            Outbox.status == OutboxStatus.PENDING.value,
        )
        .order_by(Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def mark_sent(
    session: AsyncSession,
    account_id: int,
    outbox_ids: Iterable[int],
    *,
    now: datetime | None = None,
) -> int:
    stmt = (
        update(Outbox)
        .where(Outbox.account_id == account_id, Outbox.id.in_(list(outbox_ids)))
        .values(
            status=OutboxStatus.SENT.value, sent_at=now or func.now(), attempts=Outbox.attempts + 1
        )
        # Runs once per message sent: skip matching loaded objects against the WHERE clause
        # in Python (the sender holds no outbox objects in this session).
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).rowcount


async def mark_failed(
    session: AsyncSession, account_id: int, outbox_id: int, *, error: str, final: bool
) -> None:
    """Record a failed attempt; `final` gives up (e.g. 403), otherwise it stays pending."""
    values: dict[str, Any] = {"attempts": Outbox.attempts + 1, "last_error": error}
    if final:
        values["status"] = OutboxStatus.FAILED.value
    stmt = (
        update(Outbox)
        .where(Outbox.account_id == account_id, Outbox.id == outbox_id)
        .values(**values)
    )
    await session.execute(stmt)


async def pending_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, *, limit: int = 20
) -> list[Outbox]:
    """The chat's unsent rows in order; the runtime delivers one chat from one task at a time."""
    stmt = (
        select(Outbox)
        .where(
            Outbox.account_id == account_id,
            Outbox.bot_id == bot_id,
            Outbox.chat_id == chat_id,
            Outbox.status == OutboxStatus.PENDING.value,
        )
        .order_by(Outbox.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def chats_with_pending(session: AsyncSession, account_id: int, bot_id: int) -> list[int]:
    """Chats with unsent rows (e.g. a crash between commit and send): resend at start-up."""
    stmt = (
        select(Outbox.chat_id)
        .where(
            Outbox.account_id == account_id,
            Outbox.bot_id == bot_id,
            Outbox.status == OutboxStatus.PENDING.value,
        )
        .distinct()
    )
    return list((await session.scalars(stmt)).all())


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
    return (await session.execute(stmt)).rowcount
