"""The account itself: read, rename/re-plan, soft delete and restore.

Creating an account has no account to scope by yet: see `storage.system.create_account`,
which inserts it and binds the session so the owner membership goes in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account
from storage.repositories._common import UNSET, Unset, given


async def get(session: AsyncSession, account_id: int) -> Account | None:
    return (await session.scalars(select(Account).where(Account.id == account_id))).one_or_none()


async def update_account(
    session: AsyncSession,
    account_id: int,
    *,
    name: str | Unset = UNSET,
    plan: str | Unset = UNSET,
    limits: dict[str, Any] | Unset = UNSET,
    time_zone: str | Unset = UNSET,
    stuck_after_minutes: int | Unset = UNSET,
) -> Account | None:
    changes = given(
        name=name,
        plan=plan,
        limits=limits,
        time_zone=time_zone,
        stuck_after_minutes=stuck_after_minutes,
    )
    return await _update(session, account_id, changes)


async def soft_delete(
    session: AsyncSession, account_id: int, *, now: datetime | None = None
) -> bool:
    """Hide the account from the runtime (its bots stop) while keeping every row for restore."""
    changed = await _update(session, account_id, {"deleted_at": now or func.now()}, live=True)
    return changed is not None


async def restore(session: AsyncSession, account_id: int) -> bool:
    changed = await _update(session, account_id, {"deleted_at": None}, live=False)
    return changed is not None


async def _update(
    session: AsyncSession, account_id: int, values: dict[str, Any], live: bool | None = None
) -> Account | None:
    if not values:
        return await get(session, account_id)
    stmt = update(Account).where(Account.id == account_id)
    if live is True:
        stmt = stmt.where(Account.deleted_at.is_(None))
    elif live is False:
        stmt = stmt.where(Account.deleted_at.is_not(None))
    stmt = stmt.values(**values).returning(Account)
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one_or_none()
