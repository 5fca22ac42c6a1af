"""Durable timers, as tests and tools read them. The journal writes them with its runs'
steps (storage/batch.py); the scheduler fires due ones (storage/timers.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Waiting
from storage.repositories._common import get_scoped


async def get(session: AsyncSession, account_id: int, waiting_id: int) -> Waiting | None:
    return await get_scoped(session, Waiting, account_id, Waiting.id == waiting_id)
