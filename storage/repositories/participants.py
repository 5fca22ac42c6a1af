"""Students as an account knows them: one row per Telegram user per account."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Participant
from storage.repositories._common import get_scoped


async def upsert(
    session: AsyncSession,
    account_id: int,
    *,
    telegram_user_id: int,
    username: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    language_code: str | None = None,
) -> Participant:
    """Create, or refresh the profile fields Telegram sent with the latest update."""
    profile = {
        "username": username,
        "first_name": first_name,
        "last_name": last_name,
        "language_code": language_code,
    }
    stmt = (
        insert(Participant)
        .values(account_id=account_id, telegram_user_id=telegram_user_id, **profile)
        .on_conflict_do_update(
            index_elements=[Participant.account_id, Participant.telegram_user_id],
            set_={**profile, "updated_at": func.now()},
        )
        .returning(Participant)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one()


async def get(session: AsyncSession, account_id: int, participant_id: int) -> Participant | None:
    return await get_scoped(session, Participant, account_id, Participant.id == participant_id)


async def get_by_user(
    session: AsyncSession, account_id: int, telegram_user_id: int
) -> Participant | None:
    return await get_scoped(
        session, Participant, account_id, Participant.telegram_user_id == telegram_user_id
    )


async def list_all(
    session: AsyncSession, account_id: int, *, limit: int = 100, offset: int = 0
) -> list[Participant]:
    stmt = (
        select(Participant)
        .where(Participant.account_id == account_id)
        .order_by(Participant.id)
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(stmt)).all())
