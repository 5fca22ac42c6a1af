"""Courses as the panel lists and guards them: each course's latest version, and the
deployments that keep a course from being deleted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CourseDeployment, CourseVersion


async def latest_versions(session: AsyncSession, account_id: int) -> dict[int, CourseVersion]:
    """course id -> its highest-numbered version, for every course of the account at once."""
    stmt = (
        select(CourseVersion)
        .where(CourseVersion.account_id == account_id)
        .ext(distinct_on(CourseVersion.course_id))
        .order_by(CourseVersion.course_id, CourseVersion.number.desc())
    )
    return {v.course_id: v for v in (await session.scalars(stmt)).all()}


async def deployments_of(session: AsyncSession, account_id: int, course_id: int) -> list[int]:
    """Ids of the deployments serving any version of the course, in id order."""
    stmt = (
        select(CourseDeployment.id)
        .join(CourseVersion, CourseVersion.id == CourseDeployment.course_version_id)
        .where(CourseDeployment.account_id == account_id, CourseVersion.course_id == course_id)
        .order_by(CourseDeployment.id)
    )
    return list(await session.scalars(stmt))
