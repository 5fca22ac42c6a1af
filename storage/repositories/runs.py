"""Runs, as the panel and delivery read them: one student's pass through a pinned course
version in one chat.

Every change to a run is applied by the runtime's journal (storage/batch.py,
storage/admission_batch.py; DESIGN §5 "One writer"); nothing here writes one.
"""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Run
from storage.repositories._common import get_scoped

# Built once: delivery reads it for every LLM call.
_ACTIVE_IN_CHAT: Select[Run] = select(Run).where(
    Run.account_id == bindparam("account_id"),
    Run.bot_id == bindparam("bot_id"),
    Run.chat_id == bindparam("chat_id"),
    Run.is_active,
)


async def get(session: AsyncSession, account_id: int, run_id: int) -> Run | None:
    return await get_scoped(session, Run, account_id, Run.id == run_id)


async def get_active(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int
) -> Run | None:
    """The chat's active run."""
    params = {"account_id": account_id, "bot_id": bot_id, "chat_id": chat_id}
    return (await session.scalars(_ACTIVE_IN_CHAT, params)).one_or_none()
