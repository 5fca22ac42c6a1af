"""API keys for scripts: shown once at creation, stored only as SHA-256.

Resolving a presented key to its account is cross-account: `storage.system.api_key_by_hash`.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, token_hash
from storage.models import ApiKey, MemberRole

KEY_PREFIX = "cbk_"


async def create(
    session: AsyncSession, account_id: int, *, name: str, role: MemberRole | str
) -> tuple[ApiKey, Secret]:
    """Returns the row and the key itself, which exists nowhere else after this call."""
    key = Secret(KEY_PREFIX + secrets.token_urlsafe(32))
    row = ApiKey(
        account_id=account_id, name=name, role=MemberRole(role).value, key_hash=token_hash(key)
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_all(session: AsyncSession, account_id: int) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.id)
    return list((await session.scalars(stmt)).all())


async def revoke(session: AsyncSession, account_id: int, api_key_id: int) -> bool:
    stmt = (
        update(ApiKey)
        .where(
            ApiKey.account_id == account_id, ApiKey.id == api_key_id, ApiKey.revoked_at.is_(None)
        )
        .values(revoked_at=func.now())
    )
    return (await session.execute(stmt)).rowcount > 0


async def touch(
    session: AsyncSession, account_id: int, api_key_id: int, *, now: datetime | None = None
) -> None:
    stmt = (
        update(ApiKey)
        .where(ApiKey.account_id == account_id, ApiKey.id == api_key_id)
        .values(last_used_at=now or func.now())
    )
    await session.execute(stmt)
