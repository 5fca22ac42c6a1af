"""Small reads the pages need for labels and pickers (names, not whole rows).

The API answers with ids (a deployment names its course by id); a page shows titles. These
queries fetch only the few columns a label needs, scoped by account like every repository.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Course, CourseVersion


@dataclass(frozen=True)
class VersionChoice:
    version_id: int
    course_id: int
    course_title: str
    number: int


async def course_titles(session: AsyncSession, account_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(Course.id, Course.title).where(Course.account_id == account_id)
    )
    return {course_id: title for course_id, title in rows.all()}


async def version_choices(session: AsyncSession, account_id: int) -> list[VersionChoice]:
    """Every version of every course, newest version of each course first (deploy pickers)."""
    rows = await session.execute(
        select(CourseVersion.id, Course.id, Course.title, CourseVersion.number)
        .join(Course, (Course.account_id == account_id) & (Course.id == CourseVersion.course_id))
        .where(CourseVersion.account_id == account_id)
        .order_by(Course.title, Course.id, CourseVersion.number.desc())
    )
    return [VersionChoice(*row) for row in rows.all()]


async def versions_of(
    session: AsyncSession, account_id: int, course_id: int
) -> list[tuple[int, int]]:
    """(version id, number) of one course, oldest first."""
    rows = await session.execute(
        select(CourseVersion.id, CourseVersion.number)
        .where(CourseVersion.account_id == account_id, CourseVersion.course_id == course_id)
        .order_by(CourseVersion.number)
    )
    return [(version_id, number) for version_id, number in rows.all()]
