"""API keys for scripts: `Authorization: Bearer <key>`; the key is shown once.

A key acts for the member who made it (a key made by a key: that key's maker) and works only
while that member's role covers the key's (`panel_api.auth.principal`)."""

from __future__ import annotations

from panel_api.access import Access
from panel_api.audit import record
from panel_api.auth.principal import ApiKeyPrincipal
from panel_api.context import PanelContext
from panel_api.errors import forbidden
from panel_api.permissions import role_covers
from panel_api.schemas.members import ApiKeyCreate, ApiKeyCreated, ApiKeyMaker, ApiKeyOut
from storage.models import ApiKey
from storage.repositories import api_keys, members


async def list_keys(ctx: PanelContext, access: Access) -> list[ApiKeyOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await api_keys.list_all(session, access.account_id)
    return [_out(row, maker_username) for row, maker_username in rows]


async def create_key(ctx: PanelContext, access: Access, body: ApiKeyCreate) -> ApiKeyCreated:
    if not role_covers(access.role, body.role):
        raise forbidden(
            f"a {access.role} cannot create a key with the {body.role.value} role",
            key="problem.key_role_above_yours",
        )
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


async def revoke_key(ctx: PanelContext, access: Access, api_key_id: int) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        if await api_keys.revoke(session, access.account_id, api_key_id):
            await record(session, access, "api_key.revoke", "api_key", api_key_id)


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
