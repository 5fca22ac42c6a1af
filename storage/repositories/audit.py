"""Append-only record of who changed what (the app role has no UPDATE/DELETE on it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog


async def record(
    session: AsyncSession,
    account_id: int,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditLog:
    """`actor` is e.g. "tg:<user id>", "api_key:<id>" or "system". Never put secrets in details."""
    row = AuditLog(
        account_id=account_id,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=dict(details or {}),
    )
    session.add(row)
    await session.flush()
    return row


async def list_recent(
    session: AsyncSession,
    account_id: int,
    *,
    limit: int = 100,
    before_id: int | None = None,
    action: str | None = None,
) -> list[AuditLog]:
    """Newest first; pass the last id seen as `before_id` for the next page. `action` keeps
    that action (`member.role`) or every action of that area (`member`)."""
    stmt = select(AuditLog).where(AuditLog.account_id == account_id)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    if action is not None:
        stmt = stmt.where(
            or_(
                AuditLog.action == action, AuditLog.action.startswith(action + ".", autoescape=True)
            )
        )
    stmt = stmt.order_by(AuditLog.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


async def latest_action(
    session: AsyncSession, account_id: int, actions: Sequence[str]
) -> str | None:
    """Which of `actions` was recorded last (the log is append-only, so it is the truth)."""
    stmt = (
        select(AuditLog.action)
        .where(AuditLog.account_id == account_id, AuditLog.action.in_(actions))
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)
