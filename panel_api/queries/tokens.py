"""Enrollment tokens as the panel lists them: with their bot's username (for the deep link)
and how many runs each started and saw completed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Bot, CourseDeployment, EnrollmentToken, Run, RunStatus


async def listed(
    session: AsyncSession, account_id: int, deployment_id: int, *, token_id: int | None = None
) -> Sequence[Row[EnrollmentToken, str, int, int]]:
    """(token, bot username, runs started, runs completed) rows of the deployment in id
    order (only `token_id` when given)."""
    started = (
        select(func.count())
        .where(Run.account_id == account_id, Run.token_id == EnrollmentToken.id)
        .scalar_subquery()
    )
    completed = (
        select(func.count())
        .where(
            Run.account_id == account_id,
            Run.token_id == EnrollmentToken.id,
            Run.status == RunStatus.COMPLETED.value,
        )
        .scalar_subquery()
    )
    stmt = (
        select(EnrollmentToken, Bot.username, started, completed)
        .join(CourseDeployment, CourseDeployment.id == EnrollmentToken.deployment_id)
        .join(Bot, Bot.id == CourseDeployment.bot_id)
        .where(
            EnrollmentToken.account_id == account_id,
            EnrollmentToken.deployment_id == deployment_id,
        )
        .order_by(EnrollmentToken.id)
    )
    if token_id is not None:
        stmt = stmt.where(EnrollmentToken.id == token_id)
    return (await session.execute(stmt)).all()
