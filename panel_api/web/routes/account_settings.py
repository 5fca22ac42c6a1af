"""The account itself: delete it (bots stop, everything is kept), restore a deleted account
or erase it for good (its name, time zone and stuck threshold: the settings page,
routes/accounts.py). Restore and purge answer on a deleted account, so their rule
lets one through (the API's own rule, `allow_deleted`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.services import accounts as accounts_service
from panel_api.web.routes.accounts import render_settings
from panel_api.web.routes.common import (
    Form,
    page_router,
    problems,
    rule,
    see_other,
)

router = page_router()
Update = Annotated[Access, rule(Permission.ACCOUNT_UPDATE)]
Delete = Annotated[Access, rule(Permission.ACCOUNT_DELETE)]
DeleteDeleted = Annotated[
    Access, Depends(AccountRule(Permission.ACCOUNT_DELETE, allow_deleted=True))
]


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
        return await render_settings(request, access, errors=problems(exc))
    return see_other("/accounts", "account_purged")
