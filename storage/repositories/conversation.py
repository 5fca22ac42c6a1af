"""Per-run history: what the bot said, what the student answered, and the scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, ConversationRole
from storage.repositories._common import table_of


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
) -> Conversation:
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
    await session.flush()
    return row


class Line(NamedTuple):
    element_id: str
    role: ConversationRole | str
    text: str
    score: float | None = None
    maxscore: float | None = None


async def append_many(
    session: AsyncSession, account_id: int, run_id: int, lines: Sequence[Line]
) -> None:
    """A step's lines in one Core INSERT, in order: the hot path (see outbox.enqueue_many)."""
    if not lines:
        return
    rows = [
        {
            "account_id": account_id,
            "run_id": run_id,
            "element_id": line.element_id,
            "role": ConversationRole(line.role).value,
            "text": line.text,
            "score": line.score,
            "maxscore": line.maxscore,
        }
        for line in lines
    ]
    await session.execute(insert(table_of(Conversation)), rows)


async def list_for_run(session: AsyncSession, account_id: int, run_id: int) -> list[Conversation]:
    stmt = (
        select(Conversation)
        .where(Conversation.account_id == account_id, Conversation.run_id == run_id)
        .order_by(Conversation.id)
    )
    return list((await session.scalars(stmt)).all())
