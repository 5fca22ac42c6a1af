"""Students (participants) as the panel searches and pages them, with whether each is banned
account-wide and how many runs each has; one ban by where it applies; a participant by
username (Telegram has no lookup for bots: we know the users who wrote to our bots)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Banned, Conversation, Participant, Run


@dataclass(frozen=True)
class StudentRow:
    participant: Participant
    banned: bool
    runs: int


async def page(
    session: AsyncSession, account_id: int, q: str | None, *, limit: int, offset: int
) -> tuple[list[StudentRow], int]:
    """Newest first, those whose username or name contains `q` (as text, not a pattern);
    also the total number of matches."""
    where = [Participant.account_id == account_id]
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                Participant.username.ilike(pattern, escape="\\"),
                Participant.first_name.ilike(pattern, escape="\\"),
                Participant.last_name.ilike(pattern, escape="\\"),
            )
        )
    banned = exists().where(
        Banned.account_id == Participant.account_id,
        Banned.telegram_user_id == Participant.telegram_user_id,
    )
    total = await session.scalar(select(func.count()).select_from(Participant).where(*where))
    found = (
        await session.execute(
            select(Participant, banned)
            .where(*where)
            .order_by(Participant.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    # Run counts of this page only, in one grouped query (not one per student).
    counts = dict(
        (
            await session.execute(
                select(Run.participant_id, func.count())
                .where(
                    Run.account_id == account_id,
                    Run.participant_id.in_([p.id for p, _ in found]),
                )
                .group_by(Run.participant_id)
            )
        ).all()
    )
    rows = [StudentRow(p, is_banned, counts.get(p.id, 0)) for p, is_banned in found]
    return rows, total or 0


async def ban_of(
    session: AsyncSession, account_id: int, user_id: int, bot_id: int | None
) -> Banned | None:
    """The user's ban on that bot (`bot_id` None: their account-wide ban), if any."""
    stmt = select(Banned).where(
        Banned.account_id == account_id,
        Banned.telegram_user_id == user_id,
        Banned.bot_id.is_(None) if bot_id is None else Banned.bot_id == bot_id,
    )
    return (await session.scalars(stmt)).one_or_none()


async def participant_by_username(
    session: AsyncSession, account_id: int, username: str
) -> tuple[int, str] | None:
    """(Telegram user id, username as stored) of a user who wrote to the account's bots under
    this username, compared without case."""
    row = (
        await session.execute(
            select(Participant.telegram_user_id, Participant.username)
            .where(
                Participant.account_id == account_id,
                func.lower(Participant.username) == username.lower(),
            )
            .limit(1)
        )
    ).first()
    return None if row is None else (row.telegram_user_id, row.username)


async def participant(session: AsyncSession, account_id: int, user_id: int) -> Participant | None:
    return (
        await session.scalars(
            select(Participant).where(
                Participant.account_id == account_id, Participant.telegram_user_id == user_id
            )
        )
    ).one_or_none()


async def answers_of_runs(
    session: AsyncSession, account_id: int, run_ids: Sequence[int]
) -> list[Conversation]:
    """What the student said in these runs (their conversation lines), oldest first."""
    if not run_ids:
        return []
    stmt = (
        select(Conversation)
        .where(
            Conversation.account_id == account_id,
            Conversation.run_id.in_(run_ids),
            Conversation.role == "user",
        )
        .order_by(Conversation.run_id, Conversation.id)
    )
    return list((await session.scalars(stmt)).all())
