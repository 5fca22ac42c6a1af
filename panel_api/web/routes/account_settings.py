"""The account itself: rename it, delete it (bots stop, everything is kept), restore a deleted
account or erase it for good. Restore and purge answer on a deleted account, so their rule
lets one through (the API's own rule, `allow_deleted`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from panel_api.access import Access, AccountRule
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.schemas.accounts import AccountRename
from panel_api.services import accounts as accounts_service
from panel_api.web.rendering import render
from panel_api.web.routes.common import (
    Form,
    fields,
    page_router,
    rule,
    see_other,
    validation_messages,
)

router = page_router()
Update = Annotated[Access, rule(Permission.ACCOUNT_UPDATE)]
Delete = Annotated[Access, rule(Permission.ACCOUNT_DELETE)]
DeleteDeleted = Annotated[
    Access, Depends(AccountRule(Permission.ACCOUNT_DELETE, allow_deleted=True))
]


@router.get("/accounts/{account_id}/settings")
async def settings_page(request: Request, account_id: int, access: Update, ctx: Ctx) -> Response:
    return await _page(request, access)


async def _page(
    request: Request,
    access: Access,
    *,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return await render(
        request,
        "account_settings.html",
        access=access,
        status_code=status_code,
        errors=errors or [],
        values=values or {},
    )


@router.post("/accounts/{account_id}/settings")
async def rename(
    request: Request, account_id: int, access: Update, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, ("name",))
    try:
        await accounts_service.rename_account(ctx, access, AccountRename(**values))
    except ValidationError as exc:
        return await _page(
            request, access, errors=validation_messages(exc), values=values, status_code=422
        )
    return see_other(f"/accounts/{access.account_id}/settings", "account_renamed")


@router.post("/accounts/{account_id}/delete")
async def delete(
    request: Request, account_id: int, access: Delete, form: Form, ctx: Ctx
) -> Response:
    await accounts_service.delete_account(ctx, access)
    return see_other("/accounts", "account_deleted")


@router.post("/accounts/{account_id}/restore")
async def restore(
    request: Request, account_id: int, access: DeleteDeleted, form: Form, ctx: Ctx
) -> Response:
    try:
        await accounts_service.restore_account(ctx, access)
    except ApiError:
        if access.account.deleted_at is None:  # nothing to undo: the account is there
            return see_other(f"/accounts/{access.account_id}")
        return see_other("/accounts", "account_suspended_by_operator")
    return see_other(f"/accounts/{access.account_id}", "account_restored")


@router.post("/accounts/{account_id}/purge")
async def purge(
    request: Request, account_id: int, access: DeleteDeleted, form: Form, ctx: Ctx
) -> Response:
    try:
        await accounts_service.purge_account(ctx, access)
    except ApiError as exc:
        return await _page(request, access, errors=[exc.detail], status_code=exc.status)
    return see_other("/accounts", "account_purged")
