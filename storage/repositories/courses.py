"""Courses and their immutable versions (with the per-version ordered element rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Text, bindparam, cast, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Course, CourseVersion, SourceFormat
from storage.repositories._common import (
    get_scoped,
    rows_changed,
)


def source_checksum(source_text: str) -> str:
    """A version's checksum: SHA-256 of its source, whichever way the version came in."""
    return hashlib.sha256(source_text.encode()).hexdigest()


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


async def delete_course(session: AsyncSession, account_id: int, course_id: int) -> bool:
    """Deletes versions too; refused by the database while a deployment or run uses one."""
    stmt = delete(Course).where(Course.account_id == account_id, Course.id == course_id)
    return await rows_changed(session, stmt) > 0


# The element rows come from the version's own stored document: a 30,000-element version is
# expanded by PostgreSQL, not built as 30,000 objects in the process. `bad`: the position of
# the first element without a string id and type (nothing is inserted then).
_INSERT_ELEMENTS = text(
    """
WITH doc AS (
    SELECT e.value, e.n - 1 AS position
    FROM course_version v, jsonb_array_elements(v.elements) WITH ORDINALITY AS e(value, n)
    WHERE v.id = :version_id AND v.account_id = :account_id
), bad AS (
    SELECT min(position) AS position FROM doc
    WHERE jsonb_typeof(value -> 'id') IS DISTINCT FROM 'string'
       OR jsonb_typeof(value -> 'type') IS DISTINCT FROM 'string'
), stored AS (
    INSERT INTO course_element (account_id, version_id, position, element_id, type, data)
    SELECT :account_id, :version_id, position, value ->> 'id', value ->> 'type', value
    FROM doc
    WHERE (SELECT position FROM bad) IS NULL
    RETURNING 1
)
SELECT (SELECT position FROM bad) AS bad, (SELECT count(*) FROM stored) AS stored
"""
)


async def add_version(
    session: AsyncSession,
    account_id: int,
    course_id: int,
    *,
    source_text: str,
    source_format: SourceFormat | str,
    elements: Sequence[Mapping[str, Any]] | str,
    checksum: str,
) -> CourseVersion:
    """Append version N+1 with its element rows.

    `elements` is the normalised, ordered element list, or that list already as one JSON
    array text (what the panel gets from its workers); each item must carry a string `id`
    and `type` (it is stored whole, in the version and in its course_element row).
    """
    document = (
        elements
        if isinstance(elements, str)
        else orjson.dumps([dict(e) for e in elements], option=orjson.OPT_NON_STR_KEYS).decode()
    )
    # Lock the course so two uploads at once get numbers N+1 and N+2, not a unique violation.
    course = await session.scalar(
        select(Course.id)
        .where(Course.account_id == account_id, Course.id == course_id)
        .with_for_update()
    )
    if course is None:
        raise LookupError(f"course {course_id} not found in account {account_id}")
    number = select(func.coalesce(func.max(CourseVersion.number), 0) + 1).where(
        CourseVersion.account_id == account_id, CourseVersion.course_id == course_id
    )
    version: CourseVersion | None = await session.scalar(
        insert(CourseVersion)
        .values(
            account_id=account_id,
            course_id=course_id,
            number=number.scalar_subquery(),
            source_text=source_text,
            source_format=SourceFormat(source_format).value,
            elements=cast(bindparam("document", document, type_=Text), JSONB),
            checksum=checksum,
        )
        .returning(CourseVersion)
    )
    assert version is not None
    rows = {"account_id": account_id, "version_id": version.id}
    outcome = (await session.execute(_INSERT_ELEMENTS, rows)).one()
    if outcome.bad is not None:
        raise ValueError(f"element #{outcome.bad} needs string 'id' and 'type' keys")
    set_committed_value(version, "elements_count", outcome.stored)  # RETURNING leaves it out
    return version


async def get_version(
    session: AsyncSession, account_id: int, version_id: int
) -> CourseVersion | None:
    """The version with its source text (its elements stay in the database: see
    `elements_json`)."""
    stmt = (
        select(CourseVersion)
        .where(CourseVersion.account_id == account_id, CourseVersion.id == version_id)
        .options(undefer(CourseVersion.source_text))
    )
    return (await session.scalars(stmt)).one_or_none()


async def elements_json(session: AsyncSession, account_id: int, version_id: int) -> str | None:
    """The version's normalised elements as the JSON array text PostgreSQL keeps: handed on
    (an API answer, a worker) without being decoded here."""
    stmt = select(cast(CourseVersion.elements, Text)).where(
        CourseVersion.account_id == account_id, CourseVersion.id == version_id
    )
    return await session.scalar(stmt)


class VersionTexts(NamedTuple):
    source_text: str
    elements_json: str  # the normalised elements, as PostgreSQL gives them back


async def texts_by_number(
    session: AsyncSession, account_id: int, course_id: int, numbers: Iterable[int]
) -> dict[int, VersionTexts]:
    """Source and elements of the course's versions numbered `numbers` (those that exist)."""
    stmt = select(
        CourseVersion.number, CourseVersion.source_text, cast(CourseVersion.elements, Text)
    ).where(
        CourseVersion.account_id == account_id,
        CourseVersion.course_id == course_id,
        CourseVersion.number.in_(list(numbers)),
    )
    return {
        number: VersionTexts(source, elements)
        for number, source, elements in (await session.execute(stmt)).all()
    }


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
