"""Members page: who works in the account with which role, invite someone (by Telegram user
id or by the @username of someone who wrote to the account's bots), change a role, remove.
The owner rules (only an owner touches owners; the last owner stays) are the API's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import ROLES, Permission
from panel_api.schemas.members import MemberInvite, MemberRoleChange
from panel_api.services import members as members_service
from panel_api.web.rendering import render
from panel_api.web.routes.common import (
    Form,
    Said,
    fields,
    page_router,
    problems,
    rule,
    see_other,
)
from storage.models import MemberRole

router = page_router()
Read = Annotated[Access, rule(Permission.MEMBERS_READ)]
Manage = Annotated[Access, rule(Permission.MEMBERS_MANAGE)]


@router.get("/accounts/{account_id}/members")
async def members_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _page(request, access, ctx)


async def _page(
    request: Request,
    access: Access,
    ctx: Ctx,
    *,
    errors: Said | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    people = await members_service.list_members(ctx, access)
    return await render(
        request,
        "members.html",
        access=access,
        status_code=status_code,
        members=people,
        # Only an owner may make an owner: the others are not offered the choice at all.
        roles=[r.value for r in ROLES if r is not MemberRole.OWNER or access.is_owner],
        errors=errors or [],
        values=values or {},
    )


async def _failed(
    request: Request,
    access: Access,
    ctx: Ctx,
    exc: ValidationError | ApiError,
    values: dict[str, str] | None = None,
) -> Response:
    if isinstance(exc, ValidationError):
        return await _page(
            request, access, ctx, errors=problems(exc), values=values, status_code=422
        )
    return await _page(
        request, access, ctx, errors=problems(exc), values=values, status_code=exc.status
    )


@router.post("/accounts/{account_id}/members")
async def invite_member(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, ("who", "role"))
    who = values.get("who", "")
    body_fields: dict[str, object] = {"role": values.get("role")}
    if who.isascii() and who.isdigit():
        body_fields["telegram_user_id"] = int(who)
    elif who:
        body_fields["username"] = who
    try:
        await members_service.invite(ctx, access, MemberInvite.model_validate(body_fields))
    except (ValidationError, ApiError) as exc:
        return await _failed(request, access, ctx, exc, values)
    return see_other(f"/accounts/{access.account_id}/members", "member_added")


@router.post("/accounts/{account_id}/members/{member_user_id}")
async def change_member_role(
    request: Request, account_id: int, member_user_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    try:
        body = MemberRoleChange.model_validate(fields(form, ("role",)))
        await members_service.change_role(ctx, access, member_user_id, body)
    except (ValidationError, ApiError) as exc:
        return await _failed(request, access, ctx, exc)
    return see_other(f"/accounts/{access.account_id}/members", "member_role_changed")


@router.post("/accounts/{account_id}/members/{member_user_id}/remove")
async def remove_member(
    request: Request, account_id: int, member_user_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    try:
        await members_service.remove(ctx, access, member_user_id)
    except ApiError as exc:
        return await _failed(request, access, ctx, exc)
    return see_other(f"/accounts/{access.account_id}/members", "member_removed")
