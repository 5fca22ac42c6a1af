"""Students of the account, searchable, with bans: ban (optionally stopping their runs) and
lift a ban. The ban forms are also on a run's page; both come back where they were sent from."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.schemas.runs import BanCreate
from panel_api.services import bots as bots_service
from panel_api.services import deployments as deployments_service
from panel_api.services import students as students_service
from panel_api.web import lookups
from panel_api.web.rendering import render
from panel_api.web.routes.common import (
    Form,
    Said,
    field,
    fields,
    page_router,
    problems,
    rule,
    safe_next,
    see_other,
)

router = page_router()
Read = Annotated[Access, rule(Permission.STUDENTS_READ)]
Manage = Annotated[Access, rule(Permission.STUDENTS_MANAGE)]
PAGE_SIZE = 50


@router.get("/accounts/{account_id}/students")
async def students_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _page(request, access, ctx)


async def _page(
    request: Request,
    access: Read,
    ctx: Ctx,
    *,
    errors: Said | None = None,
    status_code: int = 200,
) -> Response:
    q = (request.query_params.get("q") or "").strip()[:64].replace("\x00", "") or None
    offset_raw = request.query_params.get("offset", "0")
    offset = int(offset_raw) if offset_raw.isdigit() and int(offset_raw) <= 1_000_000 else 0
    page = await students_service.list_students(ctx, access, q=q, limit=PAGE_SIZE, offset=offset)
    bans = await students_service.list_bans(ctx, access)
    bots = await bots_service.list_bots(ctx, access)
    return await render(
        request,
        "students.html",
        access=access,
        status_code=status_code,
        page=page,
        q=q or "",
        offset=offset,
        page_size=PAGE_SIZE,
        bans=bans,
        account_bans={b.telegram_user_id: b for b in bans if b.bot_id is None},
        bots={b.id: b for b in bots},
        errors=errors or [],
    )


@router.get("/accounts/{account_id}/students/{student_user_id}")
async def student_page(
    request: Request, account_id: int, student_user_id: int, access: Read, ctx: Ctx
) -> Response:
    """The gradebook: every run of the student, each with the answers they gave (the rule
    has checked the student is one of the account's)."""
    student, runs = await students_service.gradebook(ctx, access, student_user_id)
    deployments = await deployments_service.list_deployments(ctx, access)
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
    return await render(
        request,
        "student.html",
        access=access,
        student=student,
        telegram_user_id=student_user_id,
        runs=runs,
        deployments={d.id: d for d in deployments},
        titles=titles,
    )


@router.post("/accounts/{account_id}/bans")
async def ban(request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx) -> Response:
    back = safe_next(field(form, "next"), f"/accounts/{access.account_id}/students")
    try:
        body = BanCreate(
            **fields(form, ("telegram_user_id", "bot_id", "reason")),
            stop_runs=form.get("stop_runs") == "on",
        )
        await students_service.ban_user(ctx, access, body)
    except ValidationError as exc:
        return await _page(request, access, ctx, errors=problems(exc), status_code=422)
    except ApiError as exc:
        return await _page(request, access, ctx, errors=problems(exc), status_code=exc.status)
    return see_other(back, "student_banned")


@router.post("/accounts/{account_id}/bans/{ban_id}/delete")
async def unban(
    request: Request, account_id: int, ban_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    back = safe_next(field(form, "next"), f"/accounts/{access.account_id}/students")
    await students_service.unban_user(ctx, access, ban_id)
    return see_other(back, "student_unbanned")
