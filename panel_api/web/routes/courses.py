"""Courses: upload YAML or import a Google Sheet (diagnostics shown at their lines), versions,
and a preview of each version played by the engine."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.messages import Message
from panel_api.permissions import Permission, allows
from panel_api.schemas.courses import (
    CourseUpload,
    DiffOut,
    SheetCourseImport,
    SheetImport,
    SheetsAccessIn,
    VersionUpload,
)
from panel_api.services import bots as bots_service
from panel_api.services import course_work
from panel_api.services import courses as courses_service
from panel_api.services import integrations as integrations_service
from panel_api.services.course_store import diagnostics_out
from panel_api.web import listing, preview
from panel_api.web.diff_view import diff_lines
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import (
    Form,
    fields,
    page_router,
    problems,
    rule,
    see_other,
    upload_text,
)

router = page_router()
Read = Annotated[Access, rule(Permission.COURSES_READ)]
Write = Annotated[Access, rule(Permission.COURSES_WRITE)]
ManageSheets = Annotated[Access, rule(Permission.INTEGRATIONS_MANAGE)]


class Problem(Exception):
    """A form that cannot become a course: messages, and diagnostics to show at their lines."""

    def __init__(
        self,
        messages: list[Message | str],
        *,
        source: str | None = None,
        diagnostics: list[dict[str, Any]] | None = None,
        omitted: int = 0,
        status: int = 422,
    ) -> None:
        super().__init__(messages[0] if messages else "invalid")
        self.messages = messages
        self.listing = listing.annotate(source, diagnostics, omitted) if diagnostics else None
        self.status = status


def _problem(exc: ValidationError | ApiError, source: str | None = None) -> Problem:
    if isinstance(exc, ValidationError):
        return Problem(problems(exc))
    return Problem(
        problems(exc),
        source=source,
        diagnostics=exc.extra.get("diagnostics"),
        omitted=exc.extra.get("diagnostics_omitted", 0),
        status=exc.status,
    )


# --- the course list ----------------------------------------------------------------------


@router.get("/accounts/{account_id}/courses")
async def courses_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _list_page(request, access, ctx)


async def _list_page(
    request: Request,
    access: Read,
    ctx: Ctx,
    *,
    problem: Problem | None = None,
    form_name: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    items = await courses_service.list_courses(ctx, access)
    sheets = None
    if allows(access.role, Permission.INTEGRATIONS_READ):
        sheets = await integrations_service.get_sheets_access(ctx, access)
    return await render(
        request,
        "courses.html",
        access=access,
        status_code=problem.status if problem else 200,
        courses=items,
        sheets=sheets,
        problem=problem,
        form_name=form_name,
        values=values or {},
    )


async def _source(form: Any, t: Any) -> str:
    try:
        text = await upload_text(form, "file")
    except UnicodeDecodeError:
        raise Problem([t("courses.not_utf8")]) from None
    text = text if text is not None else (form.get("source") or "")
    if not str(text).strip():
        raise Problem([t("courses.no_source")])
    return str(text)


@router.post("/accounts/{account_id}/courses")
async def upload_course(
    request: Request, account_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    t = await page_translator(request, access)
    values = fields(form, ("title", "slug"))
    source: str | None = None
    try:
        source = await _source(form, t)
        values["source"] = source  # shown again if anything fails: pasted text is never lost
        upload = form.get("file")
        title = values.get("title") or _title_from_file(getattr(upload, "filename", None))
        body = CourseUpload(title=title, slug=values.get("slug"), source=source)
        out = await courses_service.upload_course(ctx, access, body)
    except Problem as problem:
        return await _list_page(
            request, access, ctx, problem=problem, form_name="upload", values=values
        )
    except (ValidationError, ApiError) as exc:
        no_title = isinstance(exc, ApiError) and exc.extra.get("reason") == "no_title"
        failed = Problem([t("courses.no_title")]) if no_title else _problem(exc, source)
        return await _list_page(
            request, access, ctx, problem=failed, form_name="upload", values=values
        )
    return see_other(
        _version_url(access.account_id, out.course.id, out.version.id), "course_uploaded"
    )


@router.post("/accounts/{account_id}/courses/import-sheet")
async def import_course(
    request: Request, account_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, ("spreadsheet", "worksheet", "title", "slug"))
    try:
        body = SheetCourseImport(**values)
        out = await courses_service.import_course_from_sheet(ctx, access, body)
    except (ValidationError, ApiError) as exc:
        return await _list_page(
            request, access, ctx, problem=_problem(exc), form_name="sheet", values=values
        )
    return see_other(
        _version_url(access.account_id, out.course.id, out.version.id), "course_uploaded"
    )


@router.post("/accounts/{account_id}/integrations/google-sheets")
async def set_sheets_key(
    request: Request, account_id: int, access: ManageSheets, form: Form, ctx: Ctx
) -> Response:
    t = await page_translator(request, access)
    try:
        raw = await upload_text(form, "key_file")
        if raw is None:
            raise Problem([t("sheets.no_key")])
        try:
            info = json.loads(raw)
        except ValueError:
            raise Problem([t("sheets.not_json")]) from None
        await integrations_service.put_sheets_access(
            ctx, access, SheetsAccessIn(service_account=info)
        )
    except (Problem, UnicodeDecodeError) as exc:
        problem = exc if isinstance(exc, Problem) else Problem([t("sheets.not_json")])
        return await _list_page(request, access, ctx, problem=problem, form_name="sheets_key")
    except (ValidationError, ApiError) as exc:
        return await _list_page(request, access, ctx, problem=_problem(exc), form_name="sheets_key")
    return see_other(f"/accounts/{access.account_id}/courses", "sheets_key_saved")


# --- one course -----------------------------------------------------------------------------


@router.get("/accounts/{account_id}/courses/{course_id}")
async def course_page(
    request: Request, account_id: int, course_id: int, access: Read, ctx: Ctx
) -> Response:
    return await _course_page(request, access, ctx, course_id)


async def _course_page(
    request: Request,
    access: Read,
    ctx: Ctx,
    course_id: int,
    *,
    problem: Problem | None = None,
    form_name: str | None = None,
    source: str | None = None,
) -> Response:
    course = await courses_service.get_course(ctx, access, course_id)
    versions = await courses_service.list_versions(ctx, access, course_id)
    return await render(
        request,
        "course.html",
        access=access,
        status_code=problem.status if problem else 200,
        course=course,
        versions=list(reversed(versions)),
        problem=problem,
        form_name=form_name,
        source=source or "",
        deployed_in=await courses_service.deployments_using(ctx, access, course_id),
    )


@router.post("/accounts/{account_id}/courses/{course_id}/versions")
async def upload_version(
    request: Request, account_id: int, course_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    t = await page_translator(request, access)
    source: str | None = None
    try:
        source = await _source(form, t)
        out = await courses_service.upload_version(
            ctx, access, course_id, VersionUpload(source=source)
        )
    except Problem as problem:
        return await _course_page(
            request, access, ctx, course_id, problem=problem, form_name="upload", source=source
        )
    except (ValidationError, ApiError) as exc:
        failed = _problem(exc, source)
        return await _course_page(
            request, access, ctx, course_id, problem=failed, form_name="upload", source=source
        )
    return see_other(_version_url(access.account_id, course_id, out.version.id), "version_uploaded")


@router.post("/accounts/{account_id}/courses/{course_id}/versions/import-sheet")
async def import_version(
    request: Request, account_id: int, course_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    try:
        body = SheetImport(**fields(form, ("spreadsheet", "worksheet")))
        out = await courses_service.import_version_from_sheet(ctx, access, course_id, body)
    except (ValidationError, ApiError) as exc:
        return await _course_page(
            request, access, ctx, course_id, problem=_problem(exc), form_name="sheet"
        )
    return see_other(_version_url(access.account_id, course_id, out.version.id), "version_uploaded")


@router.get("/accounts/{account_id}/courses/{course_id}/versions/{version_id}")
async def version_page(
    request: Request, account_id: int, course_id: int, version_id: int, access: Read, ctx: Ctx
) -> Response:
    """The version's preview transcript, its warnings, and a form to deploy it."""
    t = await page_translator(request, access)
    course = await courses_service.get_course(ctx, access, course_id)
    version = await courses_service.get_version(ctx, access, version_id)
    view = await course_work.run(
        ctx,
        access.account_id,
        preview.version_view,
        version.source_text,
        f"v{version.number}",
        t("preview.sample_text"),
        t("preview.dialog_reply"),
        t("preview.sample_name"),
    )
    bots = []
    if allows(access.role, Permission.DEPLOYMENTS_MANAGE):
        bots = await bots_service.list_bots(ctx, access)
    return await render(
        request,
        "version.html",
        access=access,
        course=course,
        version=version,
        warnings=[d.model_dump() for d in diagnostics_out(view.warnings)],
        warnings_total=view.warnings_total,
        preview=view.preview,
        bots=bots,
        refused=await courses_service.refused_media(ctx, access, version_id),
    )


# --- deleting a course, comparing two versions -------------------------------------------------


@router.post("/accounts/{account_id}/courses/{course_id}/delete")
async def delete_course(
    request: Request, account_id: int, course_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    """Refused while a deployment uses the course: the course page says which, in words."""
    t = await page_translator(request, access)
    try:
        await courses_service.delete_course(ctx, access, course_id)
    except ApiError as exc:
        message = t("course.delete_refused") if exc.status == 409 else exc.message
        return await _course_page(
            request,
            access,
            ctx,
            course_id,
            problem=Problem([message], status=exc.status),
            form_name="delete",
        )
    return see_other(f"/accounts/{access.account_id}/courses", "course_deleted")


@router.get("/accounts/{account_id}/courses/{course_id}/compare")
async def compare_page(
    request: Request, account_id: int, course_id: int, access: Read, ctx: Ctx
) -> Response:
    """Two versions side by side as a diff: element by element first (what running students
    feel), then the text. Without a choice, the latest version against the one before."""
    t = await page_translator(request, access)
    course = await courses_service.get_course(ctx, access, course_id)
    numbers = [v.number for v in await courses_service.list_versions(ctx, access, course_id)]
    picked = [_version_number(request.query_params.get(k)) for k in ("from", "to")]
    errors: list[Message | str] = []
    if any(p == 0 for p in picked):
        errors.append(t("compare.bad_version"))
    old, new = picked
    if not old and not new and len(numbers) >= 2:
        old, new = numbers[-2], numbers[-1]
    diff = None
    if old and new and not errors:
        try:
            diff = DiffOut.model_validate_json(
                await courses_service.diff_versions(ctx, access, course_id, old, new, 3)
            )
        except ApiError as exc:
            errors.append(t("compare.no_such_version") if exc.status == 404 else exc.message)
    return await render(
        request,
        "compare.html",
        access=access,
        status_code=422 if errors else 200,
        course=course,
        numbers=numbers,
        old=old,
        new=new,
        diff=diff,
        diff_text=diff_lines(diff.unified) if diff else None,
        errors=errors,
    )


def _version_number(raw: str | None) -> int | None:
    """None when not given, 0 when given but not a version number."""
    if not raw:
        return None
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31 else 0


def _version_url(account_id: int, course_id: int, version_id: int) -> str:
    return f"/accounts/{account_id}/courses/{course_id}/versions/{version_id}"


def _title_from_file(filename: str | None) -> str | None:
    return PurePath(filename).stem[:200] if filename else None
