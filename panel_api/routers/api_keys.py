"""API keys over HTTP; the rules are in panel_api/services/api_keys.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, ApiKeyIdParam, Ctx
from panel_api.permissions import Permission
from panel_api.schemas.members import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from panel_api.services import api_keys as service

router = APIRouter(prefix="/accounts/{account_id}/api-keys", tags=["api keys"])
Manage = Annotated[Access, Depends(AccountRule(Permission.API_KEYS_MANAGE))]


@router.get("", response_model=list[ApiKeyOut], summary="API keys (without the keys)")
async def list_keys(account_id: AccountId, access: Manage, ctx: Ctx) -> list[ApiKeyOut]:
    return await service.list_keys(ctx, access)


@router.post("", response_model=ApiKeyCreated, status_code=201, summary="Create an API key")
async def create_key(
    account_id: AccountId, body: ApiKeyCreate, access: Manage, ctx: Ctx
) -> ApiKeyCreated:
    return await service.create_key(ctx, access, body)


@router.delete("/{api_key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(
    account_id: AccountId, api_key_id: ApiKeyIdParam, access: Manage, ctx: Ctx
) -> Response:
    await service.revoke_key(ctx, access, api_key_id)
    return Response(status_code=204)
