"""From a worker's verdict on a course source to a stored, immutable version.

Upload and Sheets import end the same way: the verdict decides (errors -> 422 with the
diagnostics; warnings travel with the successful answer), then the version is stored with
its normalised elements (what analytics and diffs read), as the JSON text the worker made,
and a checksum of the source.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from courses.diagnostics import Diagnostic
from courses.jobs import Checked
from panel_api.errors import unprocessable
from panel_api.schemas.common import Diagnostic as DiagnosticOut
from storage.models import CourseVersion, SourceFormat
from storage.repositories import courses


def diagnostics_out(items: Iterable[Diagnostic]) -> list[DiagnosticOut]:
    return [
        DiagnosticOut(
            severity=d.severity,
            message=d.message,
            key=d.key,
            params=dict(d.params),
            element_id=d.element_id,
            field=d.field,
            line=d.line,
        )
        for d in items
    ]


def warnings_out(checked: Checked) -> list[DiagnosticOut]:
    return diagnostics_out(d for d in checked.diagnostics if not d.is_error)


def require_valid(checked: Checked) -> str:
    """The normalised elements (JSON text), or a 422 carrying the diagnostics (errors and
    warnings, in file order; beyond the reported ones only their number)."""
    if checked.elements_json is None:
        count = checked.errors
        raise unprocessable(
            f"the course has {count} {'error' if count == 1 else 'errors'}",
            key="problem.course_errors",
            count=count,
            diagnostics=[d.model_dump() for d in diagnostics_out(checked.diagnostics)],
            diagnostics_omitted=checked.omitted,
        )
    return checked.elements_json


def checksum(source_text: str) -> str:
    return courses.source_checksum(source_text)


async def store_version(
    session: AsyncSession,
    account_id: int,
    course_id: int,
    *,
    source_text: str,
    source_format: SourceFormat,
    elements_json: str,
) -> CourseVersion:
    return await courses.add_version(
        session,
        account_id,
        course_id,
        source_text=source_text,
        source_format=source_format,
        elements=elements_json,
        checksum=checksum(source_text),
    )
