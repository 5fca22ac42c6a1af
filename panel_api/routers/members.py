"""Members and roles over HTTP; the owner rules are in panel_api/services/members.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, MemberUserId
from panel_api.permissions import Permission
from panel_api.schemas.members import MemberInvite, MemberOut, MemberRoleChange
from panel_api.services import members as service

router = APIRouter(prefix="/accounts/{account_id}/members", tags=["members"])
Read = Annotated[Access, Depends(AccountRule(Permission.MEMBERS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.MEMBERS_MANAGE))]


@router.get("", response_model=list[MemberOut], summary="Members and their roles")
async def list_members(account_id: AccountId, access: Read, ctx: Ctx) -> list[MemberOut]:
    return await service.list_members(ctx, access)


@router.post("", response_model=MemberOut, status_code=201, summary="Add a member")
async def invite(account_id: AccountId, body: MemberInvite, access: Manage, ctx: Ctx) -> MemberOut:
    return await service.invite(ctx, access, body)


@router.patch("/{member_user_id}", response_model=MemberOut, summary="Change a member's role")
async def change_role(
    account_id: AccountId,
    member_user_id: MemberUserId,
    body: MemberRoleChange,
    access: Manage,
    ctx: Ctx,
) -> MemberOut:
    return await service.change_role(ctx, access, member_user_id, body)


@router.delete("/{member_user_id}", status_code=204, summary="Remove a member")
async def remove(
    account_id: AccountId, member_user_id: MemberUserId, access: Manage, ctx: Ctx
) -> Response:
    await service.remove(ctx, access, member_user_id)
    return Response(status_code=204)
