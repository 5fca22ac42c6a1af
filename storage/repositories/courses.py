"""Courses and their immutable versions (with the per-version ordered element rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Course, CourseElement, CourseVersion, SourceFormat
from storage.repositories._common import UNSET, Unset, get_scoped, given, update_scoped


async def create(session: AsyncSession, account_id: int, *, title: str, slug: str) -> Course:
    course = Course(account_id=account_id, title=title, slug=slug)
    session.add(course)
    await session.flush()
    return course


async def get(session: AsyncSession, account_id: int, course_id: int) -> Course | None:
    return await get_scoped(session, Course, account_id, Course.id == course_id)


async def get_by_slug(session: AsyncSession, account_id: int, slug: str) -> Course | None:
    return await get_scoped(session, Course, account_id, Course.slug == slug)


async def list_all(session: AsyncSession, account_id: int) -> list[Course]:
    stmt = select(Course).where(Course.account_id == account_id).order_by(Course.id)
    return list((await session.scalars(stmt)).all())


async def update_course(
    session: AsyncSession,
    account_id: int,
    course_id: int,
    *,
    title: str | Unset = UNSET,
    slug: str | Unset = UNSET,
) -> Course | None:
    return await update_scoped(
        session, Course, account_id, course_id, given(title=title, slug=slug)
    )


async def delete_course(session: AsyncSession, account_id: int, course_id: int) -> bool:
    """Deletes versions too; refused by the database while a deployment or run uses one."""
    stmt = delete(Course).where(Course.account_id == account_id, Course.id == course_id)
    return (await session.execute(stmt)).rowcount > 0


async def add_version(
    session: AsyncSession,
    account_id: int,
    course_id: int,
    *,
    source_text: str,
    source_format: SourceFormat | str,
    elements: Sequence[Mapping[str, Any]],
    checksum: str,
) -> CourseVersion:
    """Append version N+1 with its element rows.

    `elements` is the normalised, ordered element list; each item must carry its `id` and
    `type` (it is stored whole, in the version and in its course_element row).
    """
    for position, element in enumerate(elements):
        if not isinstance(element.get("id"), str) or not isinstance(element.get("type"), str):
            raise ValueError(f"element #{position} needs string 'id' and 'type' keys")
    # Lock the course so two uploads at once get numbers N+1 and N+2, not a unique violation.
    course = await session.scalar(
        select(Course.id)
        .where(Course.account_id == account_id, Course.id == course_id)
        .with_for_update()
    )
    if course is None:
        raise LookupError(f"course {course_id} not found in account {account_id}")
    number = await session.scalar(
        select(func.coalesce(func.max(CourseVersion.number), 0) + 1).where(
            CourseVersion.account_id == account_id, CourseVersion.course_id == course_id
        )
    )
    version = CourseVersion(
        account_id=account_id,
        course_id=course_id,
        number=number,
        source_text=source_text,
        source_format=SourceFormat(source_format).value,
        elements=[dict(e) for e in elements],
        checksum=checksum,
    )
    session.add(version)
    await session.flush()
    session.add_all(
        CourseElement(
            account_id=account_id,
            version_id=version.id,
            position=position,
            element_id=element["id"],
            type=element["type"],
            data=dict(element),
        )
        for position, element in enumerate(elements)
    )
    await session.flush()
    return version


async def get_version(
    session: AsyncSession, account_id: int, version_id: int
) -> CourseVersion | None:
    return await get_scoped(session, CourseVersion, account_id, CourseVersion.id == version_id)


async def latest_version(
    session: AsyncSession, account_id: int, course_id: int
) -> CourseVersion | None:
    stmt = (
        select(CourseVersion)
        .where(CourseVersion.account_id == account_id, CourseVersion.course_id == course_id)
        .order_by(CourseVersion.number.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).one_or_none()


async def list_versions(
    session: AsyncSession, account_id: int, course_id: int
) -> list[CourseVersion]:
    stmt = (
        select(CourseVersion)
        .where(CourseVersion.account_id == account_id, CourseVersion.course_id == course_id)
        .order_by(CourseVersion.number)
    )
    return list((await session.scalars(stmt)).all())


async def list_elements(
    session: AsyncSession, account_id: int, version_id: int
) -> list[CourseElement]:
    stmt = (
        select(CourseElement)
        .where(CourseElement.account_id == account_id, CourseElement.version_id == version_id)
        .order_by(CourseElement.position)
    )
    return list((await session.scalars(stmt)).all())
