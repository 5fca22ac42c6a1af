"""Students and bans over HTTP; the rules are in panel_api/services/students.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, BanId, Ctx, StudentUserId
from panel_api.permissions import Permission
from panel_api.schemas.common import Page
from panel_api.schemas.runs import BanCreate, BanCreated, BanOut, GradebookRunOut, StudentOut
from panel_api.services import students as service

router = APIRouter(prefix="/accounts/{account_id}", tags=["students"])
Read = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_MANAGE))]


@router.get("/students", response_model=Page[StudentOut], summary="Students")
async def list_students(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    q: str | None = Query(None, min_length=1, max_length=64, description="username/name part"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[StudentOut]:
    return await service.list_students(ctx, access, q=q, limit=limit, offset=offset)


@router.get(
    "/students/{student_user_id}/gradebook",
    response_model=list[GradebookRunOut],
    summary="A student's runs, newest first, each with their answers",
)
async def gradebook(
    account_id: AccountId,
    student_user_id: StudentUserId,
    access: Read,
    ctx: Ctx,
) -> list[GradebookRunOut]:
    _, runs = await service.gradebook(ctx, access, student_user_id)
    return runs


@router.get("/bans", response_model=list[BanOut], summary="Banned users")
async def list_bans(account_id: AccountId, access: Read, ctx: Ctx) -> list[BanOut]:
    return await service.list_bans(ctx, access)


@router.post("/bans", response_model=BanCreated, status_code=201, summary="Ban a user")
async def ban_user(account_id: AccountId, body: BanCreate, access: Manage, ctx: Ctx) -> BanCreated:
    return await service.ban_user(ctx, access, body)


@router.delete("/bans/{ban_id}", status_code=204, summary="Lift a ban")
async def unban_user(account_id: AccountId, ban_id: BanId, access: Manage, ctx: Ctx) -> Response:
    await service.unban_user(ctx, access, ban_id)
    return Response(status_code=204)
