"""From course source text to a stored, immutable version.

Upload and Sheets import end the same way: the loader's verdict decides (errors -> 422 with
every diagnostic; warnings travel with the successful answer), then the version is stored with
its normalised elements (what analytics and diffs read) and a checksum of the source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from courses.diagnostics import Diagnostic
from courses.loader import LoadResult
from engine.model import Course, element_to_data
from panel_api.errors import unprocessable
from panel_api.schemas.common import Diagnostic as DiagnosticOut
from storage.models import CourseVersion, SourceFormat
from storage.repositories import courses


def diagnostics_out(items: Iterable[Diagnostic]) -> list[DiagnosticOut]:
    return [
        DiagnosticOut(
            severity=d.severity,
            message=d.message,
            element_id=d.element_id,
            field=d.field,
            line=d.line,
        )
        for d in items
    ]


def require_valid(result: LoadResult) -> Course:
    """The course, or a 422 carrying every diagnostic (errors and warnings, in file order)."""
    if result.course is None:
        count = len(result.errors)
        raise unprocessable(
            f"the course has {count} error{'s' if count != 1 else ''}",
            diagnostics=[d.model_dump() for d in diagnostics_out(result.diagnostics)],
        )
    return result.course


def checksum(source_text: str) -> str:
    return hashlib.sha256(source_text.encode()).hexdigest()


def elements_payload(course: Course) -> list[dict[str, Any]]:
    return [{"id": element.id, **element_to_data(element)} for element in course.elements]


async def store_version(
    session: AsyncSession,
    account_id: int,
    course_id: int,
    *,
    source_text: str,
    source_format: SourceFormat,
    course: Course,
) -> CourseVersion:
    return await courses.add_version(
        session,
        account_id,
        course_id,
        source_text=source_text,
        source_format=source_format,
        elements=elements_payload(course),
        checksum=checksum(source_text),
    )
