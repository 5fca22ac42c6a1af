"""Per-run history: what the bot said, what the student answered, and the scores."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, ConversationRole


class Line(NamedTuple):
    element_id: str
    role: ConversationRole | str
    text: str
    score: float | None = None
    maxscore: float | None = None


async def list_for_run(session: AsyncSession, account_id: int, run_id: int) -> list[Conversation]:
    stmt = (
        select(Conversation)
        .where(Conversation.account_id == account_id, Conversation.run_id == run_id)
        .order_by(Conversation.id)
    )
    return list((await session.scalars(stmt)).all())
