"""Courses over HTTP; the rules are in panel_api/services/courses.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, CourseId, Ctx, VersionId
from panel_api.permissions import Permission
from panel_api.schemas.courses import (
    CourseOut,
    CourseUpload,
    CourseValidate,
    DiffOut,
    SheetCourseImport,
    SheetImport,
    UploadOut,
    ValidationOut,
    VersionDetail,
    VersionOut,
    VersionUpload,
)
from panel_api.services import courses as service

router = APIRouter(prefix="/accounts/{account_id}/courses", tags=["courses"])
Read = Annotated[Access, Depends(AccountRule(Permission.COURSES_READ))]
Write = Annotated[Access, Depends(AccountRule(Permission.COURSES_WRITE))]


@router.get("", response_model=list[CourseOut], summary="Courses with their latest version")
async def list_courses(account_id: AccountId, access: Read, ctx: Ctx) -> list[CourseOut]:
    return await service.list_courses(ctx, access)


@router.post(
    "",
    response_model=UploadOut,
    status_code=201,
    summary="Upload a course as YAML (422 with every diagnostic if it has errors)",
    responses={422: {"description": "validation errors with element id, field and line"}},
)
async def upload_course(
    account_id: AccountId, body: CourseUpload, access: Write, ctx: Ctx
) -> UploadOut:
    return await service.upload_course(ctx, access, body)


@router.post(
    "/validate", response_model=ValidationOut, summary="Check YAML without storing anything"
)
async def validate_course(
    account_id: AccountId, body: CourseValidate, access: Write, ctx: Ctx
) -> ValidationOut:
    return await service.validate_course(ctx, access, body)


@router.post(
    "/import-sheet",
    response_model=UploadOut,
    status_code=201,
    summary="Create a course from a Google Sheet (diagnostics point at sheet rows)",
)
async def import_course_from_sheet(
    account_id: AccountId, body: SheetCourseImport, access: Write, ctx: Ctx
) -> UploadOut:
    return await service.import_course_from_sheet(ctx, access, body)


@router.get("/{course_id}", response_model=CourseOut, summary="One course")
async def get_course(
    account_id: AccountId, course_id: CourseId, access: Read, ctx: Ctx
) -> CourseOut:
    return await service.get_course(ctx, access, course_id)


@router.delete("/{course_id}", status_code=204, summary="Delete a course that no deployment uses")
async def delete_course(
    account_id: AccountId, course_id: CourseId, access: Write, ctx: Ctx
) -> Response:
    await service.delete_course(ctx, access, course_id)
    return Response(status_code=204)


@router.get("/{course_id}/versions", response_model=list[VersionOut], summary="Versions")
async def list_versions(
    account_id: AccountId, course_id: CourseId, access: Read, ctx: Ctx
) -> list[VersionOut]:
    return await service.list_versions(ctx, access, course_id)


@router.post(
    "/{course_id}/versions",
    response_model=UploadOut,
    status_code=201,
    summary="Upload a new version (running students stay on theirs)",
)
async def upload_version(
    account_id: AccountId, course_id: CourseId, body: VersionUpload, access: Write, ctx: Ctx
) -> UploadOut:
    return await service.upload_version(ctx, access, course_id, body)


@router.post(
    "/{course_id}/versions/import-sheet",
    response_model=UploadOut,
    status_code=201,
    summary="Import a new version from a Google Sheet",
)
async def import_version_from_sheet(
    account_id: AccountId, course_id: CourseId, body: SheetImport, access: Write, ctx: Ctx
) -> UploadOut:
    return await service.import_version_from_sheet(ctx, access, course_id, body)


@router.get(
    "/{course_id}/versions/{version_id}",
    response_model=VersionDetail,
    summary="One version with its normalised elements",
)
async def get_version(
    account_id: AccountId, course_id: CourseId, version_id: VersionId, access: Read, ctx: Ctx
) -> Response:
    answer = await service.get_version_json(ctx, access, version_id)
    return Response(answer, media_type="application/json")


@router.get(
    "/{course_id}/versions/{version_id}/export",
    response_class=PlainTextResponse,
    summary="The version as YAML: the source as uploaded, or re-generated (normalised=true)",
    responses={200: {"content": {"application/yaml": {}}}},
)
async def export_version(
    account_id: AccountId,
    course_id: CourseId,
    version_id: VersionId,
    access: Read,
    ctx: Ctx,
    normalised: bool = Query(False),
) -> Response:
    filename, text = await service.export_version(
        ctx, access, course_id, version_id, normalised=normalised
    )
    return Response(
        text,
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{course_id}/diff", response_model=DiffOut, summary="Diff two versions")
async def diff_versions(
    account_id: AccountId,
    course_id: CourseId,
    access: Read,
    ctx: Ctx,
    from_version: int = Query(ge=1, le=2**31 - 1, description="version number"),
    to_version: int = Query(ge=1, le=2**31 - 1, description="version number"),
    context: int = Query(3, ge=0, le=50, description="unified diff context lines"),
) -> Response:
    answer = await service.diff_versions(ctx, access, course_id, from_version, to_version, context)
    return Response(answer, media_type="application/json")
