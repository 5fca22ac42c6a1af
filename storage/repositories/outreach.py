"""Reminder rules of a deployment and members' notification opt-ins (panel reads and writes
that touch no run; the runner's sweeps are storage/reminders.py and
storage/teacher_notices.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import MemberNotification, ReminderRule


async def list_rules(
    session: AsyncSession, account_id: int, deployment_id: int
) -> list[ReminderRule]:
    rows = await session.scalars(
        select(ReminderRule)
        .where(ReminderRule.account_id == account_id, ReminderRule.deployment_id == deployment_id)
        .order_by(ReminderRule.after_minutes, ReminderRule.id)
    )
    return list(rows)


async def get_rule(
    session: AsyncSession, account_id: int, deployment_id: int, rule_id: int
) -> ReminderRule | None:
    return await session.scalar(
        select(ReminderRule).where(
            ReminderRule.account_id == account_id,
            ReminderRule.deployment_id == deployment_id,
            ReminderRule.id == rule_id,
        )
    )


async def add_rule(
    session: AsyncSession, account_id: int, deployment_id: int, **fields: Any
) -> ReminderRule:
    row = ReminderRule(account_id=account_id, deployment_id=deployment_id, **fields)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def delete_rule(session: AsyncSession, account_id: int, rule_id: int) -> None:
    await session.execute(
        delete(ReminderRule).where(
            ReminderRule.account_id == account_id, ReminderRule.id == rule_id
        )
    )


async def get_notification(
    session: AsyncSession, account_id: int, deployment_id: int, telegram_user_id: int
) -> MemberNotification | None:
    return await session.scalar(
        select(MemberNotification).where(
            MemberNotification.account_id == account_id,
            MemberNotification.deployment_id == deployment_id,
            MemberNotification.telegram_user_id == telegram_user_id,
        )
    )


async def set_notification(
    session: AsyncSession,
    account_id: int,
    deployment_id: int,
    telegram_user_id: int,
    **fields: Any,
) -> MemberNotification:
    """Create or replace the member's opt-in; saving clears an earlier refusal by Telegram
    (the member was told to press Start in the bot and save again)."""
    values = {**fields, "refused_at": None}
    await session.execute(
        insert(MemberNotification)
        .values(
            account_id=account_id,
            deployment_id=deployment_id,
            telegram_user_id=telegram_user_id,
            **values,
        )
        .on_conflict_do_update(index_elements=["deployment_id", "telegram_user_id"], set_=values)
    )
    row = await get_notification(session, account_id, deployment_id, telegram_user_id)
    assert row is not None
    await session.refresh(row)
    return row


async def delete_notification(
    session: AsyncSession, account_id: int, deployment_id: int, telegram_user_id: int
) -> bool:
    result = await session.execute(
        delete(MemberNotification)
        .where(
            MemberNotification.account_id == account_id,
            MemberNotification.deployment_id == deployment_id,
            MemberNotification.telegram_user_id == telegram_user_id,
        )
        .returning(MemberNotification.id)
    )
    return result.first() is not None
