"""Students as an account knows them: one row per Telegram user per account."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Participant
from storage.repositories._common import get_scoped


async def get(session: AsyncSession, account_id: int, participant_id: int) -> Participant | None:
    return await get_scoped(session, Participant, account_id, Participant.id == participant_id)
