"""API keys for scripts: shown once at creation, stored only as SHA-256, bound to the
member who made them.

Resolving a presented key to its account is cross-account: `storage.system.api_key_by_hash`.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, token_hash
from storage.models import AccountMember, ApiKey, MemberRole
from storage.repositories._common import rows_changed

KEY_PREFIX = "cbk_"


async def create(
    session: AsyncSession,
    account_id: int,
    *,
    name: str,
    role: MemberRole | str,
    created_by: int,
) -> tuple[ApiKey, Secret]:
    """Returns the row and the key itself, which exists nowhere else after this call.
    `created_by`: the Telegram user the key acts for (it dies with their membership)."""
    key = Secret(KEY_PREFIX + secrets.token_urlsafe(32))
    row = ApiKey(
        account_id=account_id,
        name=name,
        role=MemberRole(role).value,
        key_hash=token_hash(key),
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_all(session: AsyncSession, account_id: int) -> list[tuple[ApiKey, str | None]]:
    """Every key of the account with its maker's username, when the maker is still a member
    whose username we know."""
    maker = and_(
        AccountMember.account_id == ApiKey.account_id,
        AccountMember.telegram_user_id == ApiKey.created_by,
    )
    stmt = (
        select(ApiKey, AccountMember.username)
        .outerjoin(AccountMember, maker)
        .where(ApiKey.account_id == account_id)
        .order_by(ApiKey.id)
    )
    return [(key, username) for key, username in (await session.execute(stmt)).all()]


async def revoke(session: AsyncSession, account_id: int, api_key_id: int) -> bool:
    stmt = (
        update(ApiKey)
        .where(
            ApiKey.account_id == account_id, ApiKey.id == api_key_id, ApiKey.revoked_at.is_(None)
        )
        .values(revoked_at=func.now())
    )
    return await rows_changed(session, stmt) > 0


async def touch(
    session: AsyncSession, account_id: int, api_key_id: int, *, now: datetime | None = None
) -> None:
    stmt = (
        update(ApiKey)
        .where(ApiKey.account_id == account_id, ApiKey.id == api_key_id)
        .values(last_used_at=now or func.now())
    )
    await session.execute(stmt)
