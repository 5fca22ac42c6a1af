"""The account picker (with "create an account"), the switcher and an account's overview."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import available_timezones

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from panel_api.access import Access, UserRule
from panel_api.auth.principal import UserPrincipal
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import GlobalRule, Permission
from panel_api.schemas.accounts import AccountCreate, AccountUpdate
from panel_api.services import accounts as accounts_service
from panel_api.services import dashboard
from panel_api.web.i18n import Translator
from panel_api.web.rendering import page_translator, render
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
LoggedIn = Annotated[UserPrincipal, Depends(UserRule(GlobalRule.AUTHENTICATED))]
ReadAccount = Annotated[Access, rule(Permission.ACCOUNT_READ)]
UpdateAccount = Annotated[Access, rule(Permission.ACCOUNT_UPDATE)]
REFRESH_SECONDS = 60
"""The overview reloads itself this often while open: its numbers are live."""


@router.get("/accounts")
async def account_list(request: Request, user: LoggedIn, ctx: Ctx) -> Response:
    return await _list_page(request, user, ctx)


async def _list_page(
    request: Request,
    user: UserPrincipal,
    ctx: Ctx,
    *,
    errors: Said | None = None,
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
    except (ValidationError, ApiError) as exc:
        return await _list_page(request, user, ctx, errors=problems(exc), values=values)
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
    return await _overview(request, access, ctx)


async def _overview(
    request: Request,
    access: Access,
    ctx: Ctx,
) -> Response:
    """The account and, live, its runs today: each number links to the runs it counts."""
    account = await accounts_service.get_account(ctx, access)
    numbers = await dashboard.get_dashboard(ctx, access)
    day = numbers.day.isoformat()
    runs = f"/accounts/{access.account_id}/runs?"
    return await render(
        request,
        "overview.html",
        access=access,
        overview=account,
        dashboard=numbers,
        links={
            "active": runs + urlencode({"status": "active"}),
            "stuck": runs + urlencode({"status": "stuck"}),
            "started_today": runs + urlencode({"started_from": day, "started_to": day}),
            "finished_today": runs
            + urlencode({"status": "completed", "finished_from": day, "finished_to": day}),
            "dropped_today": runs
            + urlencode({"status": "dropped", "finished_from": day, "finished_to": day}),
        },
        refresh_seconds=REFRESH_SECONDS,
    )


@router.get("/accounts/{account_id}/settings")
async def settings_page(
    request: Request, account_id: int, access: UpdateAccount, ctx: Ctx
) -> Response:
    return await render_settings(request, access)


async def render_settings(
    request: Request,
    access: Access,
    *,
    errors: Said | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return await render(
        request,
        "settings.html",
        access=access,
        status_code=422 if errors else 200,
        zones=sorted(available_timezones()),
        errors=errors or [],
        values=values or {},
    )


@router.post("/accounts/{account_id}/settings")
async def update_settings(
    request: Request, account_id: int, access: UpdateAccount, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, ("name", "time_zone", "stuck_after_minutes"))
    try:
        body = AccountUpdate(**values)
        updated = await accounts_service.update_account(ctx, access, body)
    except ValidationError as exc:
        t = await page_translator(request, access)
        return await render_settings(
            request, access, errors=settings_messages(exc, t), values=values
        )
    return see_other(f"/accounts/{updated.id}/settings", "settings_saved")


def settings_messages(exc: ValidationError, t: Translator) -> list[str]:
    """Each refused setting in the page's language, naming what was typed."""
    return [
        t(f"settings.bad_{error['loc'][-1]}", value=str(error.get("input", "")))
        if t.has(f"settings.bad_{error['loc'][-1]}")
        else t.say(message)
        for error, message in zip(exc.errors(), problems(exc), strict=True)
    ]
