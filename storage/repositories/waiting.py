"""Durable timers, as tests and tools read them. The journal writes them with its runs'
steps (storage/batch.py); the scheduler fires due ones (storage/timers.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Waiting, WaitStatus
from storage.repositories._common import get_scoped


async def get(session: AsyncSession, account_id: int, waiting_id: int) -> Waiting | None:
    return await get_scoped(session, Waiting, account_id, Waiting.id == waiting_id)


async def list_pending(session: AsyncSession, account_id: int, run_id: int) -> list[Waiting]:
    stmt = (
        select(Waiting)
        .where(
            Waiting.account_id == account_id,
            Waiting.run_id == run_id,
            Waiting.status == WaitStatus.PENDING.value,
        )
        .order_by(Waiting.due_at, Waiting.id)
    )
    return list((await session.scalars(stmt)).all())
