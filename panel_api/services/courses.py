"""Courses: upload YAML or import a Google Sheet (validated in a worker, diagnostics with line
numbers), versions, diff, export, delete while no deployment uses the course; the plan's
course limit."""

from __future__ import annotations

import asyncio
import re
import secrets
import unicodedata

from sqlalchemy.exc import IntegrityError

from courses import jobs
from courses.gsheets import SheetAccessError, fetch_rows, spreadsheet_key
from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import ApiError, conflict, not_found, unprocessable
from panel_api.queries import courses as course_queries
from panel_api.schemas.courses import (
    CourseOut,
    CourseUpload,
    CourseValidate,
    SheetCourseImport,
    SheetImport,
    UploadOut,
    ValidationOut,
    VersionOut,
    VersionUpload,
)
from panel_api.services import course_diff, course_work
from panel_api.services.course_store import (
    diagnostics_out,
    require_valid,
    store_version,
    warnings_out,
)
from panel_api.services.plan_limits import require_room
from panel_api.services.sheets_access import check_token_uri, load_credentials
from storage.models import Course, CourseVersion, RefusedMedia, SourceFormat
from storage.outbound import OutboundError
from storage.repositories import courses, media


async def list_courses(ctx: PanelContext, access: Access) -> list[CourseOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await courses.list_all(session, access.account_id)
        latest = await course_queries.latest_versions(session, access.account_id)
    return [_course_out(row, latest.get(row.id)) for row in rows]


NO_TITLE = "the course needs a title: give one, or start the course with a section that has a title"


async def upload_course(ctx: PanelContext, access: Access, body: CourseUpload) -> UploadOut:
    checked = await course_work.run(
        ctx, access.account_id, jobs.check, body.source, body.slug or "upload"
    )
    elements = require_valid(checked)
    title = body.title or checked.title
    if title is None:
        raise ApiError(422, NO_TITLE, key="courses.no_title", reason="no_title")
    out = await _create_course(
        ctx, access, title, body.slug, body.source, SourceFormat.YAML, elements
    )
    return _with_warnings(out, checked)


async def validate_course(ctx: PanelContext, access: Access, body: CourseValidate) -> ValidationOut:
    """Checks a source without storing anything."""
    checked = await course_work.run(ctx, access.account_id, jobs.check, body.source, "upload")
    return ValidationOut(
        ok=checked.ok,
        elements_count=checked.elements_count,
        diagnostics=diagnostics_out(checked.diagnostics),
        diagnostics_omitted=checked.omitted,
    )


async def import_course_from_sheet(
    ctx: PanelContext, access: Access, body: SheetCourseImport
) -> UploadOut:
    sheet = await _read_sheet(ctx, access, body)
    elements = require_valid(sheet.checked)
    out = await _create_course(
        ctx,
        access,
        body.title or sheet.title[:200],
        body.slug,
        sheet.source_text,
        SourceFormat.GSHEET,
        elements,
    )
    return _with_warnings(out, sheet.checked)


async def get_course(ctx: PanelContext, access: Access, course_id: int) -> CourseOut:
    async with ctx.db.tenant(access.account_id) as session:
        course = await courses.get(session, access.account_id, course_id)
        assert course is not None
        latest = await courses.latest_version(session, access.account_id, course_id)
    return _course_out(course, latest)


async def deployments_using(ctx: PanelContext, access: Access, course_id: int) -> list[int]:
    """The deployments that keep the course from being deleted (the course page says so)."""
    async with ctx.db.tenant(access.account_id) as session:
        return await course_queries.deployments_of(session, access.account_id, course_id)


async def delete_course(ctx: PanelContext, access: Access, course_id: int) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        used_by = await course_queries.deployments_of(session, access.account_id, course_id)
        if used_by:
            raise conflict(
                "the course is deployed; delete its deployments first",
                key="problem.course_deployed",
                deployments=used_by,
            )
        await courses.delete_course(session, access.account_id, course_id)
        await record(session, access, "course.delete", "course", course_id)


async def list_versions(ctx: PanelContext, access: Access, course_id: int) -> list[VersionOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await courses.list_versions(session, access.account_id, course_id)
    return [_version_out(row) for row in rows]


async def upload_version(
    ctx: PanelContext, access: Access, course_id: int, body: VersionUpload
) -> UploadOut:
    checked = await course_work.run(
        ctx, access.account_id, jobs.check, body.source, f"course {course_id}"
    )
    elements = require_valid(checked)
    out = await _add_version(ctx, access, course_id, body.source, SourceFormat.YAML, elements)
    return _with_warnings(out, checked)


async def import_version_from_sheet(
    ctx: PanelContext, access: Access, course_id: int, body: SheetImport
) -> UploadOut:
    sheet = await _read_sheet(ctx, access, body)
    elements = require_valid(sheet.checked)
    out = await _add_version(
        ctx, access, course_id, sheet.source_text, SourceFormat.GSHEET, elements
    )
    return _with_warnings(out, sheet.checked)


async def get_version(ctx: PanelContext, access: Access, version_id: int) -> CourseVersion:
    """The stored version itself (its source included), for the pages that show it."""
    async with ctx.db.tenant(access.account_id) as session:
        version = await courses.get_version(session, access.account_id, version_id)
    assert version is not None  # the caller's rule checked it is a version of this account
    return version


async def refused_media(ctx: PanelContext, access: Access, version_id: int) -> list[RefusedMedia]:
    """The version's media links Telegram would not send (students got the words instead)."""
    async with ctx.db.tenant(access.account_id) as session:
        return await media.refusals(session, access.account_id, version_id)


async def get_version_json(ctx: PanelContext, access: Access, version_id: int) -> str:
    """The version with its normalised elements, as JSON text (VersionDetail)."""
    async with ctx.db.tenant(access.account_id) as session:
        version = await courses.get_version(session, access.account_id, version_id)
        elements = await courses.elements_json(session, access.account_id, version_id)
    assert version is not None and elements is not None
    # The elements go out as PostgreSQL gives them: decoding, validating and encoding 30,000
    # of them again would cost the event loop a tenth of a second per request.
    head = _version_out(version).model_dump_json()
    return f'{head[:-1]},"elements":{elements}}}'


async def export_version(
    ctx: PanelContext, access: Access, course_id: int, version_id: int, *, normalised: bool
) -> tuple[str, str]:
    """(file name, YAML text): the source as uploaded, or re-generated when `normalised`."""
    async with ctx.db.tenant(access.account_id) as session:
        version = await courses.get_version(session, access.account_id, version_id)
        course = await courses.get(session, access.account_id, course_id)
    assert version is not None and course is not None
    text = version.source_text
    if normalised:
        exported = await course_work.run(
            ctx, access.account_id, jobs.export_normalised, text, f"version {version.id}"
        )
        if exported is None:  # stored versions always loaded once; say so if not
            raise ApiError(
                500,
                "the stored version no longer loads; export it as uploaded",
                key="problem.version_no_load",
            )
        text = exported
    return f"{course.slug}-v{version.number}.yaml", text


async def diff_versions(
    ctx: PanelContext,
    access: Access,
    course_id: int,
    from_version: int,
    to_version: int,
    context: int,
) -> str:
    """Both diffs of two versions (by number), as the JSON text of a DiffOut."""
    async with ctx.db.tenant(access.account_id) as session:
        versions = await courses.texts_by_number(
            session, access.account_id, course_id, (from_version, to_version)
        )
    old, new = versions.get(from_version), versions.get(to_version)
    if old is None or new is None:
        raise not_found(f"version {from_version if old is None else to_version}")
    return await course_work.run(
        ctx,
        access.account_id,
        course_diff.compare,
        old.source_text,
        new.source_text,
        old.elements_json,
        new.elements_json,
        (from_version, to_version),
        context,
    )


async def _read_sheet(ctx: PanelContext, access: Access, body: SheetImport) -> jobs.SheetChecked:
    async with ctx.db.tenant(access.account_id) as session:
        info = await load_credentials(session, access.account_id, ctx.box)
    if info is None:
        raise unprocessable(
            "Google Sheets access is not set up: upload a service account key first "
            "(PUT /integrations/google-sheets)",
            key="problem.sheets_not_set_up",
        )
    reader = str(info.get("client_email", ""))
    try:
        spreadsheet_key(body.spreadsheet)
        check_token_uri(info)  # again: keys stored before the upload checked it
        client = ctx.sheets_client(info)  # built on the loop, which sends its requests
    except ValueError as exc:
        raise unprocessable(str(exc), key="problem.sheet_link") from None
    try:
        title, rows = await asyncio.to_thread(
            fetch_rows, client, body.spreadsheet, body.worksheet, reader=reader
        )
    except SheetAccessError as exc:
        raise unprocessable(str(exc), key="problem.sheet_unreadable", reader=reader) from None
    except OutboundError as exc:
        raise unprocessable(
            f"Google Sheets could not be read: {exc}", key="problem.sheets_unreachable"
        ) from None
    return await course_work.run(ctx, access.account_id, jobs.check_sheet, rows, title)


async def _create_course(
    ctx: PanelContext,
    access: Access,
    title: str,
    slug: str | None,
    source_text: str,
    source_format: SourceFormat,
    elements_json: str,
) -> UploadOut:
    chosen = slug or _slug_from(title)
    try:
        async with ctx.db.tenant(access.account_id) as session:
            await require_room(session, access.account_id, "max_courses")
            if slug is None and await courses.get_by_slug(session, access.account_id, chosen):
                chosen = f"{chosen[:55]}-{secrets.token_hex(3)}"
            row = await courses.create(session, access.account_id, title=title, slug=chosen)
            version = await store_version(
                session,
                access.account_id,
                row.id,
                source_text=source_text,
                source_format=source_format,
                elements_json=elements_json,
            )
            await record(
                session,
                access,
                "course.create",
                "course",
                row.id,
                slug=chosen,
                version=version.number,
                format=source_format.value,
            )
    except IntegrityError:
        raise conflict(
            f"a course with slug {chosen!r} already exists",
            key="problem.course_slug_taken",
            slug=chosen,
        ) from None
    return UploadOut(course=_course_out(row, version), version=_version_out(version), warnings=[])


async def _add_version(
    ctx: PanelContext,
    access: Access,
    course_id: int,
    source_text: str,
    source_format: SourceFormat,
    elements_json: str,
) -> UploadOut:
    async with ctx.db.tenant(access.account_id) as session:
        row = await courses.get(session, access.account_id, course_id)
        if row is None:
            raise not_found("course")
        version = await store_version(
            session,
            access.account_id,
            course_id,
            source_text=source_text,
            source_format=source_format,
            elements_json=elements_json,
        )
        await record(
            session,
            access,
            "course.version",
            "course",
            course_id,
            version=version.number,
            format=source_format.value,
        )
    return UploadOut(course=_course_out(row, version), version=_version_out(version), warnings=[])


def _course_out(course: Course, latest: CourseVersion | None) -> CourseOut:
    return CourseOut(
        id=course.id,
        title=course.title,
        slug=course.slug,
        created_at=course.created_at,
        latest_version=_version_out(latest) if latest else None,
    )


def _version_out(version: CourseVersion) -> VersionOut:
    return VersionOut(
        id=version.id,
        course_id=version.course_id,
        number=version.number,
        source_format=version.source_format,
        checksum=version.checksum,
        elements_count=version.elements_count,
        created_at=version.created_at,
    )


def _with_warnings(out: UploadOut, checked: jobs.Checked) -> UploadOut:
    return out.model_copy(
        update={"warnings": warnings_out(checked), "warnings_omitted": checked.omitted}
    )


def _slug_from(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60]
    return slug or f"course-{secrets.token_hex(3)}"
