"""Deployments as the panel lists them (with their course, version number and bot), and how
many runs one has started (a started deployment is deactivated, never deleted)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Bot, CourseDeployment, CourseVersion, Run


async def listed(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int | None = None,
    bot_id: int | None = None,
    course_id: int | None = None,
) -> Sequence[Row[CourseDeployment, int, int, str]]:
    """(deployment, course id, version number, bot username) rows in id order, narrowed by
    whichever of the ids are given."""
    stmt = (
        select(CourseDeployment, CourseVersion.course_id, CourseVersion.number, Bot.username)
        .join(CourseVersion, CourseVersion.id == CourseDeployment.course_version_id)
        .join(Bot, Bot.id == CourseDeployment.bot_id)
        .where(CourseDeployment.account_id == account_id)
        .order_by(CourseDeployment.id)
    )
    if deployment_id is not None:
        stmt = stmt.where(CourseDeployment.id == deployment_id)
    if bot_id is not None:
        stmt = stmt.where(CourseDeployment.bot_id == bot_id)
    if course_id is not None:
        stmt = stmt.where(CourseVersion.course_id == course_id)
    return (await session.execute(stmt)).all()


async def runs_started(session: AsyncSession, account_id: int, deployment_id: int) -> int:
    count = await session.scalar(
        select(func.count()).where(Run.account_id == account_id, Run.deployment_id == deployment_id)
    )
    return count or 0
