"""The course editor: a course's YAML edited in the browser, checked as it is typed, saved as
a new version.

The page is a form with a textarea that works without scripts (it posts and saves); with
scripts, static/course-editor.js turns the textarea into CodeMirror (vendored, see
docs/course-editor.md), asks `.../edit/check` for diagnostics a moment after typing stops
and marks them at their lines. Checking and saving run in the course workers, like every
upload. The text is never lost: a save that fails renders the page again with the text
and the diagnostics, and the script keeps a draft in the browser too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.messages import course_problem
from panel_api.permissions import Permission
from panel_api.schemas.courses import CourseValidate, VersionUpload
from panel_api.services import courses as courses_service
from panel_api.web.rendering import page_translator, render, security_headers
from panel_api.web.routes.common import Form, page_router, rule, see_other
from panel_api.web.routes.courses import Problem
from panel_api.web.routes.courses import _problem as problem_from

router = page_router()
Write = Annotated[Access, rule(Permission.COURSES_WRITE)]


@router.get("/accounts/{account_id}/courses/{course_id}/edit")
async def editor_page(
    request: Request, account_id: int, course_id: int, access: Write, ctx: Ctx
) -> Response:
    """The latest version's YAML in the editor (or `?version=` one of its versions)."""
    versions = await courses_service.list_versions(ctx, access, course_id)
    wanted = request.query_params.get("version", "")
    base = next((v for v in versions if str(v.id) == wanted), versions[-1] if versions else None)
    source = ""
    if base is not None:
        source = (await courses_service.get_version(ctx, access, base.id)).source_text
    return await _render(request, access, ctx, course_id, source, base.number if base else None)


@router.post("/accounts/{account_id}/courses/{course_id}/edit")
async def save_edit(
    request: Request, account_id: int, course_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    """Save the text as the course's next version; on any problem, the same text again."""
    t = await page_translator(request, access)
    source = _text(form.get("source"))
    base = _text(form.get("base"))
    try:
        if not source.strip():
            raise Problem([t("courses.no_source")])
        out = await courses_service.upload_version(
            ctx, access, course_id, VersionUpload(source=source)
        )
    except Problem as problem:
        return await _render(request, access, ctx, course_id, source, _number(base), problem)
    except (ValidationError, ApiError) as exc:
        failed = problem_from(exc, source)
        return await _render(request, access, ctx, course_id, source, _number(base), failed)
    return see_other(
        f"/accounts/{access.account_id}/courses/{course_id}/versions/{out.version.id}",
        "version_uploaded",
    )


@router.post("/accounts/{account_id}/courses/{course_id}/edit/check")
async def check_edit(
    request: Request, account_id: int, course_id: int, access: Write, form: Form, ctx: Ctx
) -> Response:
    """The diagnostics of the text as typed (nothing is stored), for the editor's gutter."""
    source = _text(form.get("source"))
    try:
        out = await courses_service.validate_course(ctx, access, CourseValidate(source=source))
    except ValidationError:
        t = await page_translator(request, access)
        return JSONResponse(
            {"ok": False, "diagnostics": [], "message": t("editor.too_big_or_empty")},
            status_code=422,
            headers=security_headers(),
        )
    t = await page_translator(request, access)
    body = out.model_dump(mode="json")
    for d in body["diagnostics"]:  # the page's words next to the API's English
        d["text"] = t.say(course_problem(d["key"], d["params"], d["message"]))
    return JSONResponse(body, headers=security_headers())


async def _render(
    request: Request,
    access: Access,
    ctx: Ctx,
    course_id: int,
    source: str,
    base: int | None,
    problem: Problem | None = None,
) -> Response:
    course = await courses_service.get_course(ctx, access, course_id)
    return await render(
        request,
        "editor.html",
        access=access,
        status_code=problem.status if problem else 200,
        course=course,
        source=source,
        base=base,
        problem=problem,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None
