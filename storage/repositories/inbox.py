"""Update inbox (table processed_update): store first, acknowledge Telegram second.

(bot_id, update_id) is unique, so a redelivered update is recognised and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate


async def store(
    session: AsyncSession,
    account_id: int,
    *,
    bot_id: int,
    update_id: int,
    payload: Mapping[str, Any],
    chat_id: int | None = None,
) -> int | None:
    """The new inbox row id, or None when this update was already received."""
    stmt = (
        insert(ProcessedUpdate)
        .values(
            account_id=account_id,
            bot_id=bot_id,
            update_id=update_id,
            chat_id=chat_id,
            payload=dict(payload),
        )
        .on_conflict_do_nothing(index_elements=[ProcessedUpdate.bot_id, ProcessedUpdate.update_id])
        .returning(ProcessedUpdate.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_unprocessed(
    session: AsyncSession, account_id: int, bot_id: int, *, limit: int = 100
) -> list[ProcessedUpdate]:
    """Received but not processed (e.g. the process died): replay these at start-up."""
    stmt = (
        select(ProcessedUpdate)
        .where(
            ProcessedUpdate.account_id == account_id,
            ProcessedUpdate.bot_id == bot_id,
            ProcessedUpdate.processed_at.is_(None),
        )
        .order_by(ProcessedUpdate.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def mark_processed(
    session: AsyncSession,
    account_id: int,
    inbox_id: int,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    # Core, not ORM: runs once per update, and the ORM's bulk-update machinery cost more
    # than the statement itself (docs/benchmarks.md).
    table = ProcessedUpdate.__table__
    stmt = (
        update(table)
        .where(table.c.account_id == account_id, table.c.id == inbox_id)
        .values(processed_at=now or func.now(), error=error)
    )
    await session.execute(stmt)


async def next_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int | None
) -> ProcessedUpdate | None:
    """The chat's oldest unprocessed update, locked (SKIP LOCKED) for this transaction.

    Updates of one chat are handled strictly in update_id order, which is Telegram's order.
    """
    rows = await oldest_for_chat(session, account_id, bot_id, chat_id, limit=1)
    return rows[0] if rows else None


async def oldest_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int | None, *, limit: int
) -> list[ProcessedUpdate]:
    """The chat's `limit` oldest unprocessed updates in update_id order, locked (SKIP LOCKED)
    for this transaction. Asking for two tells a worker whether another update is waiting
    without one more transaction just to find out there is none."""
    chat_match = (
        ProcessedUpdate.chat_id.is_(None) if chat_id is None else ProcessedUpdate.chat_id == chat_id
    )
    stmt = (
        select(ProcessedUpdate)
        .where(
            ProcessedUpdate.account_id == account_id,
            ProcessedUpdate.bot_id == bot_id,
            ProcessedUpdate.processed_at.is_(None),
            chat_match,
        )
        .order_by(ProcessedUpdate.update_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def chats_with_backlog(
    session: AsyncSession, account_id: int, bot_id: int
) -> list[int | None]:
    """Chats that have unprocessed updates (e.g. left over from a crash)."""
    stmt = (
        select(ProcessedUpdate.chat_id)
        .where(
            ProcessedUpdate.account_id == account_id,
            ProcessedUpdate.bot_id == bot_id,
            ProcessedUpdate.processed_at.is_(None),
        )
        .distinct()
    )
    return list((await session.scalars(stmt)).all())
