"""Accounts over HTTP; the rules are in panel_api/services/accounts.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule, UserRule
from panel_api.auth.principal import UserPrincipal
from panel_api.deps import AccountId, Ctx
from panel_api.permissions import GlobalRule, Permission
from panel_api.schemas.accounts import AccountCreate, AccountOut, AccountUpdate, DashboardOut
from panel_api.schemas.auth import AccountSummary
from panel_api.services import accounts as service
from panel_api.services import dashboard

router = APIRouter(tags=["accounts"])
Authenticated = Annotated[UserPrincipal, Depends(UserRule(GlobalRule.AUTHENTICATED))]


def _rule(permission: Permission, *, allow_deleted: bool = False) -> object:
    return Depends(AccountRule(permission, allow_deleted=allow_deleted))


@router.get("/accounts", response_model=list[AccountSummary], summary="My accounts")
async def list_my_accounts(user: Authenticated, ctx: Ctx) -> list[AccountSummary]:
    return await service.list_my_accounts(ctx, user)


@router.post("/accounts", response_model=AccountOut, status_code=201, summary="Create an account")
async def create_account(body: AccountCreate, user: Authenticated, ctx: Ctx) -> AccountOut:
    return await service.create_account(ctx, user, body)


@router.get("/accounts/{account_id}", response_model=AccountOut, summary="One account")
async def get_account(
    account_id: AccountId,
    access: Annotated[Access, _rule(Permission.ACCOUNT_READ, allow_deleted=True)],
    ctx: Ctx,
) -> AccountOut:
    return await service.get_account(ctx, access)


@router.get(
    "/accounts/{account_id}/dashboard",
    response_model=DashboardOut,
    summary="Runs right now: active, stuck, started, finished and dropped today",
)
async def get_dashboard(
    account_id: AccountId,
    access: Annotated[Access, _rule(Permission.RUNS_READ)],
    ctx: Ctx,
) -> DashboardOut:
    return await dashboard.get_dashboard(ctx, access)


@router.patch(
    "/accounts/{account_id}",
    response_model=AccountOut,
    summary="Change the name, time zone or stuck threshold",
)
async def update_account(
    account_id: AccountId,
    body: AccountUpdate,
    access: Annotated[Access, _rule(Permission.ACCOUNT_UPDATE)],
    ctx: Ctx,
) -> AccountOut:
    return await service.update_account(ctx, access, body)


@router.delete(
    "/accounts/{account_id}",
    response_model=AccountOut,
    summary="Soft-delete: bots stop, everything is kept for restore",
)
async def delete_account(
    account_id: AccountId,
    access: Annotated[Access, _rule(Permission.ACCOUNT_DELETE)],
    ctx: Ctx,
) -> AccountOut:
    return await service.delete_account(ctx, access)


@router.post(
    "/accounts/{account_id}/restore", response_model=AccountOut, summary="Undo a soft delete"
)
async def restore_account(
    account_id: AccountId,
    access: Annotated[Access, _rule(Permission.ACCOUNT_DELETE, allow_deleted=True)],
    ctx: Ctx,
) -> AccountOut:
    return await service.restore_account(ctx, access)


@router.post(
    "/accounts/{account_id}/purge",
    status_code=204,
    summary="Erase a soft-deleted account and all its data, for good",
)
async def purge_account(
    account_id: AccountId,
    access: Annotated[Access, _rule(Permission.ACCOUNT_DELETE, allow_deleted=True)],
    ctx: Ctx,
) -> Response:
    await service.purge_account(ctx, access)
    return Response(status_code=204)
