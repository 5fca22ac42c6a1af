"""Runs as the panel lists them: filtered, newest first, without the (large) state JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Participant, Run


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    deployment_id: int | None = None
    token_id: int | None = None
    telegram_user_id: int | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None

    def criteria(self, account_id: int) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [Run.account_id == account_id]
        if self.status is not None:
            where.append(Run.status == self.status)
        if self.deployment_id is not None:
            where.append(Run.deployment_id == self.deployment_id)
        if self.token_id is not None:
            where.append(Run.token_id == self.token_id)
        if self.telegram_user_id is not None:
            where.append(Run.telegram_user_id == self.telegram_user_id)
        if self.started_from is not None:
            where.append(Run.started_at >= self.started_from)
        if self.started_to is not None:
            where.append(Run.started_at < self.started_to)
        return where


COLUMNS = (
    Run.id,
    Run.deployment_id,
    Run.course_version_id,
    Run.bot_id,
    Run.chat_id,
    Run.telegram_user_id,
    Participant.username,
    Participant.first_name,
    Run.status,
    Run.note,
    Run.token_id,
    Run.current_element,
    Run.started_at,
    Run.finished_at,
    Run.utm_source,
    Run.utm_medium,
    Run.utm_campaign,
    Run.utm_content,
    Run.utm_term,
)


def _select(account_id: int, where: Sequence[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    return (
        select(*COLUMNS)
        .outerjoin(
            Participant,
            (Participant.account_id == Run.account_id) & (Participant.id == Run.participant_id),
        )
        .where(*where)
    )


async def page(
    session: AsyncSession, account_id: int, filters: RunFilter, *, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    where = filters.criteria(account_id)
    total = await session.scalar(select(func.count()).select_from(Run).where(*where))
    rows = await session.execute(
        _select(account_id, where).order_by(Run.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.all()), total or 0


async def batch_before(
    session: AsyncSession, account_id: int, filters: RunFilter, before_id: int | None, size: int
) -> list[Row[Any]]:
    """Keyset pagination for exports: stable however many rows arrive meanwhile."""
    where = filters.criteria(account_id)
    if before_id is not None:
        where.append(Run.id < before_id)
    rows = await session.execute(_select(account_id, where).order_by(Run.id.desc()).limit(size))
    return list(rows.all())


async def one(session: AsyncSession, account_id: int, run_id: int) -> Row[Any] | None:
    where = [Run.account_id == account_id, Run.id == run_id]
    return (await session.execute(_select(account_id, where))).first()
