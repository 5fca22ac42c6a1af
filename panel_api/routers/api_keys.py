"""API keys for scripts: `Authorization: Bearer <key>`; the key is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.audit import record
from panel_api.deps import AccountId, ApiKeyIdParam, Ctx
from panel_api.errors import forbidden
from panel_api.permissions import ROLE_RANK, Permission
from panel_api.schemas.members import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from storage.models import ApiKey
from storage.repositories import api_keys

router = APIRouter(prefix="/accounts/{account_id}/api-keys", tags=["api keys"])
Manage = Annotated[Access, Depends(AccountRule(Permission.API_KEYS_MANAGE))]


@router.get("", response_model=list[ApiKeyOut], summary="API keys (without the keys)")
async def list_keys(account_id: AccountId, access: Manage, ctx: Ctx) -> list[ApiKeyOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await api_keys.list_all(session, access.account_id)
    return [_out(row) for row in rows]


@router.post("", response_model=ApiKeyCreated, status_code=201, summary="Create an API key")
async def create_key(
    account_id: AccountId, body: ApiKeyCreate, access: Manage, ctx: Ctx
) -> ApiKeyCreated:
    if ROLE_RANK[body.role] > ROLE_RANK[access.role]:
        raise forbidden(f"a {access.role} cannot create a key with the {body.role.value} role")
    async with ctx.db.tenant(access.account_id) as session:
        row, key = await api_keys.create(session, access.account_id, name=body.name, role=body.role)
        await record(
            session, access, "api_key.create", "api_key", row.id, name=body.name, role=row.role
        )
    return ApiKeyCreated(**_out(row).model_dump(), key=key.reveal())


@router.delete("/{api_key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(
    account_id: AccountId, api_key_id: ApiKeyIdParam, access: Manage, ctx: Ctx
) -> Response:
    async with ctx.db.tenant(access.account_id) as session:
        if await api_keys.revoke(session, access.account_id, api_key_id):
            await record(session, access, "api_key.revoke", "api_key", api_key_id)
    return Response(status_code=204)


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
