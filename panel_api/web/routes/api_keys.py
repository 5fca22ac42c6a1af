"""API keys page: the account's keys with who made each, make one (shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import ROLES, Permission, role_covers
from panel_api.schemas.members import ApiKeyCreate, ApiKeyCreated
from panel_api.services import api_keys as keys_service
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

router = page_router()
Manage = Annotated[Access, rule(Permission.API_KEYS_MANAGE)]


@router.get("/accounts/{account_id}/api-keys")
async def keys_page(request: Request, account_id: int, access: Manage, ctx: Ctx) -> Response:
    return await _page(request, access, ctx)


async def _page(
    request: Request,
    access: Manage,
    ctx: Ctx,
    *,
    created: ApiKeyCreated | None = None,
    errors: Said | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    keys = await keys_service.list_keys(ctx, access)
    return await render(
        request,
        "api_keys.html",
        access=access,
        status_code=status_code,
        keys=keys,
        created=created,
        roles=[role.value for role in ROLES if role_covers(access.role, role)],
        errors=errors or [],
        values=values or {},
    )


@router.post("/accounts/{account_id}/api-keys")
async def create_key(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    """Answers with the page itself rather than a redirect: the key is shown this once, and
    must never travel in a URL."""
    values = fields(form, ("name", "role"))
    try:
        created = await keys_service.create_key(ctx, access, ApiKeyCreate(**values))
    except ValidationError as exc:
        errors = problems(exc)
        return await _page(request, access, ctx, errors=errors, values=values, status_code=422)
    except ApiError as exc:
        return await _page(
            request, access, ctx, errors=problems(exc), values=values, status_code=exc.status
        )
    return await _page(request, access, ctx, created=created, status_code=201)


@router.post("/accounts/{account_id}/api-keys/{api_key_id}/revoke")
async def revoke_key(
    request: Request, account_id: int, api_key_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    await keys_service.revoke_key(ctx, access, api_key_id)
    return see_other(f"/accounts/{access.account_id}/api-keys", "api_key_revoked")
