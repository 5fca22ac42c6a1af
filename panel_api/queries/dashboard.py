"""The overview's live numbers: runs going on, finished and left today, stuck."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.queries.runs import ENDED_BADLY
from storage.models import Run, RunStatus
from storage.run_activity import is_stuck


@dataclass(frozen=True)
class Counts:
    active: int
    stuck: int
    started_today: int
    finished_today: int
    dropped_today: int


async def counts(session: AsyncSession, account_id: int, now: datetime, today: datetime) -> Counts:
    """`today`: the start of the account's day (in its time zone) that contains `now`. One
    pass over the active runs and those that started or ended since `today`."""
    finished = Run.finished_at >= today
    row = (
        await session.execute(
            select(
                func.count().filter(Run.is_active),
                func.count().filter(is_stuck(now)),
                func.count().filter(Run.started_at >= today),
                func.count().filter(finished, Run.status == RunStatus.COMPLETED.value),
                func.count().filter(finished, Run.status.in_(ENDED_BADLY)),
            ).where(
                Run.account_id == account_id,
                or_(Run.is_active, Run.started_at >= today, finished),
            )
        )
    ).one()
    return Counts(*row)
