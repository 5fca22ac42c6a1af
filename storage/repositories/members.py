"""Who may use an account's panel, and with which role."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AccountMember, MemberRole
from storage.repositories._common import get_scoped, rows_changed


async def add(
    session: AsyncSession,
    account_id: int,
    *,
    telegram_user_id: int,
    role: MemberRole | str,
    username: str | None = None,
) -> AccountMember:
    member = AccountMember(
        account_id=account_id,
        telegram_user_id=telegram_user_id,
        role=MemberRole(role).value,
        username=username,
    )
    session.add(member)
    await session.flush()
    return member


async def get(
    session: AsyncSession, account_id: int, telegram_user_id: int
) -> AccountMember | None:
    return await get_scoped(
        session, AccountMember, account_id, AccountMember.telegram_user_id == telegram_user_id
    )


async def list_all(session: AsyncSession, account_id: int) -> list[AccountMember]:
    stmt = (
        select(AccountMember)
        .where(AccountMember.account_id == account_id)
        .order_by(AccountMember.id)
    )
    return list((await session.scalars(stmt)).all())


async def set_role(
    session: AsyncSession, account_id: int, telegram_user_id: int, role: MemberRole | str
) -> AccountMember | None:
    stmt = (
        update(AccountMember)
        .where(
            AccountMember.account_id == account_id,
            AccountMember.telegram_user_id == telegram_user_id,
        )
        .values(role=MemberRole(role).value)
        .returning(AccountMember)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one_or_none()


async def remove(session: AsyncSession, account_id: int, telegram_user_id: int) -> bool:
    stmt = delete(AccountMember).where(
        AccountMember.account_id == account_id,
        AccountMember.telegram_user_id == telegram_user_id,
    )
    return await rows_changed(session, stmt) > 0
