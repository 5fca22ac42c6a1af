"""Per-run history: what the bot said, what the student answered, and the scores."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, ConversationRole


async def append(
    session: AsyncSession,
    account_id: int,
    *,
    run_id: int,
    element_id: str,
    role: ConversationRole | str,
    text: str,
    score: int | None = None,
    maxscore: int | None = None,
    flush: bool = True,
) -> Conversation:
    """`flush=False` leaves the row pending (no id yet), so a caller writing several rows
    sends them in one INSERT when the session next flushes."""
    row = Conversation(
        account_id=account_id,
        run_id=run_id,
        element_id=element_id,
        role=ConversationRole(role).value,
        text=text,
        score=score,
        maxscore=maxscore,
    )
    session.add(row)
    if flush:
        await session.flush()
    return row


async def list_for_run(session: AsyncSession, account_id: int, run_id: int) -> list[Conversation]:
    stmt = (
        select(Conversation)
        .where(Conversation.account_id == account_id, Conversation.run_id == run_id)
        .order_by(Conversation.id)
    )
    return list((await session.scalars(stmt)).all())
