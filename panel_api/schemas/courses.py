from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from courses.jobs import MAX_REPORTED_DIAGNOSTICS
from courses.limits import MAX_SOURCE_BYTES
from panel_api.schemas.common import Diagnostic, StrictIn

COURSE_SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SOURCE = Field(min_length=1, max_length=MAX_SOURCE_BYTES, description="course YAML (legacy format)")


class CourseUpload(StrictIn):
    title: str | None = Field(
        None, min_length=1, max_length=200, description="default: the course's first section title"
    )
    slug: str | None = Field(None, pattern=COURSE_SLUG, description="default: from the title")
    source: str = SOURCE


class VersionUpload(StrictIn):
    source: str = SOURCE


class CourseValidate(StrictIn):
    source: str = SOURCE


class SheetImport(StrictIn):
    spreadsheet: str = Field(
        min_length=10, max_length=500, description="Google Sheets URL or spreadsheet id"
    )
    worksheet: str | None = Field(None, min_length=1, max_length=100, description="default: first")


class SheetCourseImport(SheetImport):
    title: str | None = Field(None, min_length=1, max_length=200, description="default: sheet's")
    slug: str | None = Field(None, pattern=COURSE_SLUG)


class VersionOut(BaseModel):
    id: int
    course_id: int
    number: int
    source_format: str
    checksum: str
    elements_count: int
    created_at: datetime


class VersionDetail(VersionOut):
    elements: list[dict[str, Any]] = Field(description="normalised elements, in course order")


class CourseOut(BaseModel):
    id: int
    title: str
    slug: str
    created_at: datetime
    latest_version: VersionOut | None


OMITTED = Field(
    0,
    description="how many more were found than are listed "
    f"(a list stops at {MAX_REPORTED_DIAGNOSTICS:,})",
)


class UploadOut(BaseModel):
    course: CourseOut
    version: VersionOut
    warnings: list[Diagnostic]
    warnings_omitted: int = OMITTED


class ValidationOut(BaseModel):
    ok: bool
    elements_count: int
    diagnostics: list[Diagnostic]
    diagnostics_omitted: int = OMITTED


class ElementChangeOut(BaseModel):
    id: str
    fields: list[str]


class ElementDiffOut(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[ElementChangeOut]
    moved: list[str]


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    unified: str
    elements: ElementDiffOut


class SheetsAccessIn(StrictIn):
    service_account: dict[str, Any] = Field(
        description="the service account's JSON key file, as downloaded from Google Cloud"
    )


class SheetsAccessOut(BaseModel):
    configured: bool
    client_email: str | None = Field(None, description="share your sheets with this address")
