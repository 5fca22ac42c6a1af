"""API keys for scripts: `Authorization: Bearer <key>`; the key is shown once.

A key acts for the member who made it (a key made by a key: that key's maker) and works only
while that member's role covers the key's (`panel_api.auth.principal`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.audit import record
from panel_api.auth.principal import ApiKeyPrincipal
from panel_api.deps import AccountId, ApiKeyIdParam, Ctx
from panel_api.errors import forbidden
from panel_api.permissions import Permission, role_covers
from panel_api.schemas.members import ApiKeyCreate, ApiKeyCreated, ApiKeyMaker, ApiKeyOut
from storage.models import ApiKey
from storage.repositories import api_keys, members

router = APIRouter(prefix="/accounts/{account_id}/api-keys", tags=["api keys"])
Manage = Annotated[Access, Depends(AccountRule(Permission.API_KEYS_MANAGE))]


@router.get("", response_model=list[ApiKeyOut], summary="API keys (without the keys)")
async def list_keys(account_id: AccountId, access: Manage, ctx: Ctx) -> list[ApiKeyOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await api_keys.list_all(session, access.account_id)
    return [_out(row, maker_username) for row, maker_username in rows]


@router.post("", response_model=ApiKeyCreated, status_code=201, summary="Create an API key")
async def create_key(
    account_id: AccountId, body: ApiKeyCreate, access: Manage, ctx: Ctx
) -> ApiKeyCreated:
    if not role_covers(access.role, body.role):
        raise forbidden(f"a {access.role} cannot create a key with the {body.role.value} role")
    principal = access.principal
    maker = (
        principal.made_by if isinstance(principal, ApiKeyPrincipal) else principal.telegram_user_id
    )
    async with ctx.db.tenant(access.account_id) as session:
        row, key = await api_keys.create(
            session, access.account_id, name=body.name, role=body.role, created_by=maker
        )
        await record(
            session, access, "api_key.create", "api_key", row.id, name=body.name, role=row.role
        )
        member = await members.get(session, access.account_id, maker)
    username = member.username if member else None
    return ApiKeyCreated(**_out(row, username).model_dump(), key=key.reveal())


@router.delete("/{api_key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(
    account_id: AccountId, api_key_id: ApiKeyIdParam, access: Manage, ctx: Ctx
) -> Response:
    async with ctx.db.tenant(access.account_id) as session:
        if await api_keys.revoke(session, access.account_id, api_key_id):
            await record(session, access, "api_key.revoke", "api_key", api_key_id)
    return Response(status_code=204)


def _out(row: ApiKey, maker_username: str | None) -> ApiKeyOut:
    maker = None
    if row.created_by is not None:
        maker = ApiKeyMaker(telegram_user_id=row.created_by, username=maker_username)
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        role=row.role,
        created_by=maker,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
