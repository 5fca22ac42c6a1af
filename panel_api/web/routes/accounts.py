"""The account picker (with "create an account"), the switcher and an account's overview."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from panel_api.access import Access, UserRule
from panel_api.auth.principal import UserPrincipal
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import GlobalRule, Permission
from panel_api.schemas.accounts import AccountCreate
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
LoggedIn = Annotated[UserPrincipal, Depends(UserRule(GlobalRule.AUTHENTICATED))]
ReadAccount = Annotated[Access, rule(Permission.ACCOUNT_READ)]


@router.get("/accounts")
async def account_list(request: Request, user: LoggedIn, ctx: Ctx) -> Response:
    return await _list_page(request, user, ctx)


async def _list_page(
    request: Request,
    user: UserPrincipal,
    ctx: Ctx,
    *,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    mine = await accounts_service.list_my_accounts(ctx, user)
    return await render(
        request,
        "accounts.html",
        status_code=422 if errors else 200,
        my_accounts=mine,
        errors=errors or [],
        values=values or {},
    )


@router.post("/accounts")
async def create_account(request: Request, user: LoggedIn, form: Form, ctx: Ctx) -> Response:
    values = fields(form, ("name", "slug"))
    try:
        created = await accounts_service.create_account(ctx, user, AccountCreate(**values))
    except ValidationError as exc:
        return await _list_page(request, user, ctx, errors=validation_messages(exc), values=values)
    except ApiError as exc:
        return await _list_page(request, user, ctx, errors=[exc.detail], values=values)
    return see_other(f"/accounts/{created.id}", "account_created")


@router.get("/switch")
async def switch_account(request: Request, user: LoggedIn) -> Response:
    """The switcher's form target; the page it leads to checks the membership itself."""
    raw = request.query_params.get("account", "")
    if raw.isascii() and raw.isdigit():
        return see_other(f"/accounts/{int(raw)}")
    return see_other("/accounts")


@router.get("/accounts/{account_id}")
async def overview(request: Request, account_id: int, access: ReadAccount, ctx: Ctx) -> Response:
    account = await accounts_service.get_account(ctx, access)
    return await render(request, "overview.html", access=access, overview=account)
