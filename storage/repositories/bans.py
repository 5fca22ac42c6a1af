"""Who may not, or (for a restricted deployment) who alone may, take a course.

A ban with bot_id NULL covers every bot of the account. Restricted allow-list entries name
a Telegram user id or a username; usernames are stored lower-case without '@', as Telegram
treats them case-insensitively.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Banned, Restricted
from storage.repositories._common import rows_changed


def normalise_username(username: str) -> str:
    return username.strip().removeprefix("@").lower()


async def ban(
    session: AsyncSession,
    account_id: int,
    *,
    telegram_user_id: int,
    bot_id: int | None = None,
    reason: str | None = None,
) -> None:
    """Idempotent: banning twice keeps the first reason."""
    stmt = (
        insert(Banned)
        .values(
            account_id=account_id, telegram_user_id=telegram_user_id, bot_id=bot_id, reason=reason
        )
        .on_conflict_do_nothing(
            index_elements=[Banned.account_id, Banned.telegram_user_id, Banned.bot_id]
        )
    )
    await session.execute(stmt)


async def list_banned(session: AsyncSession, account_id: int) -> list[Banned]:
    stmt = select(Banned).where(Banned.account_id == account_id).order_by(Banned.id)
    return list((await session.scalars(stmt)).all())


async def allow(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    telegram_user_id: int | None = None,
    username: str | None = None,
) -> Restricted:
    if telegram_user_id is None and not username:
        raise ValueError("an allow-list entry needs a telegram_user_id or a username")
    row = Restricted(
        account_id=account_id,
        deployment_id=deployment_id,
        telegram_user_id=telegram_user_id,
        username=normalise_username(username) if username else None,
    )
    session.add(row)
    await session.flush()
    return row


async def disallow(session: AsyncSession, account_id: int, restricted_id: int) -> bool:
    stmt = delete(Restricted).where(
        Restricted.account_id == account_id, Restricted.id == restricted_id
    )
    return await rows_changed(session, stmt) > 0


async def list_allowed(
    session: AsyncSession, account_id: int, deployment_id: int
) -> list[Restricted]:
    stmt = (
        select(Restricted)
        .where(Restricted.account_id == account_id, Restricted.deployment_id == deployment_id)
        .order_by(Restricted.id)
    )
    return list((await session.scalars(stmt)).all())
