"""Platform operator area over HTTP (super-admins only); see panel_api/services/admin.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from panel_api.access import UserRule
from panel_api.auth.principal import UserPrincipal
from panel_api.deps import AccountId, Ctx
from panel_api.permissions import GlobalRule
from panel_api.schemas.accounts import AdminAccountOut, AdminAccountUpdate
from panel_api.services import admin as service

router = APIRouter(prefix="/admin", tags=["admin"])
SuperAdmin = Annotated[UserPrincipal, Depends(UserRule(GlobalRule.SUPERADMIN))]


@router.get("/accounts", response_model=list[AdminAccountOut], summary="All accounts")
async def list_all_accounts(
    admin: SuperAdmin, ctx: Ctx, include_deleted: bool = Query(False)
) -> list[AdminAccountOut]:
    return await service.list_all_accounts(ctx, include_deleted=include_deleted)


@router.patch(
    "/accounts/{account_id}",
    response_model=AdminAccountOut,
    summary="Change an account's plan or limit overrides",
)
async def update_plan(
    account_id: AccountId, body: AdminAccountUpdate, admin: SuperAdmin, ctx: Ctx
) -> AdminAccountOut:
    return await service.update_plan(ctx, admin, account_id, body)


@router.post(
    "/accounts/{account_id}/suspend",
    response_model=AdminAccountOut,
    summary="Suspend an account: its bots stop, its data is kept",
    responses={409: {"description": "suspended already"}},
)
async def suspend_any_account(
    account_id: AccountId, admin: SuperAdmin, ctx: Ctx
) -> AdminAccountOut:
    return await service.suspend(ctx, admin, account_id)


@router.post(
    "/accounts/{account_id}/restore",
    response_model=AdminAccountOut,
    summary="Restore a suspended account",
    responses={409: {"description": "not suspended"}},
)
async def restore_any_account(
    account_id: AccountId, admin: SuperAdmin, ctx: Ctx
) -> AdminAccountOut:
    return await service.restore(ctx, admin, account_id)
