"""The platform operator's area (super admins only; a 404 for everyone else, as in the API):
every account with its usage against its limits, its plan and limit overrides, suspending
and restoring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from panel_api.access import UserRule
from panel_api.auth.principal import UserPrincipal
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import GlobalRule
from panel_api.schemas.accounts import AdminAccountUpdate
from panel_api.services import admin as admin_service
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import Form, Said, field, page_router, problems, see_other
from storage import plans

router = page_router()
SuperAdmin = Annotated[UserPrincipal, Depends(UserRule(GlobalRule.SUPERADMIN))]


@router.get("/admin")
async def admin_page(request: Request, admin: SuperAdmin, ctx: Ctx) -> Response:
    return await _page(request, ctx)


async def _page(
    request: Request,
    ctx: Ctx,
    *,
    errors: Mapping[int, Said] | None = None,
    status_code: int = 200,
) -> Response:
    found = await admin_service.list_all_accounts(ctx, include_deleted=True)
    return await render(
        request,
        "admin.html",
        status_code=status_code,
        admin_accounts=found,
        plans=plans.PLANS,
        limit_names=plans.LIMIT_NAMES,
        errors=errors or {},
    )


@router.post("/admin/accounts/{account_id}")
async def change_plan(
    request: Request, account_id: int, admin: SuperAdmin, form: Form, ctx: Ctx
) -> Response:
    """Each limit: blank keeps the plan's, a number overrides it, "no limit" lifts it."""
    t = await page_translator(request, None)
    overrides: dict[str, int | None] = {}
    refused: list[str] = []
    for name in plans.LIMIT_NAMES:
        raw = field(form, name)
        if form.get(f"{name}_unlimited") == "on":
            overrides[name] = None
        elif raw is not None:
            if raw.isascii() and raw.isdigit() and len(raw) <= 9:
                overrides[name] = int(raw)
            else:
                refused.append(t("admin.bad_limit", name=t("admin.limit_" + name)))
    try:
        if refused:
            return await _page(request, ctx, errors={account_id: refused}, status_code=422)
        body = AdminAccountUpdate(plan=field(form, "plan"), limits=overrides)
        await admin_service.update_plan(ctx, admin, account_id, body)
    except ValidationError as exc:
        errors = {account_id: problems(exc)}
        return await _page(request, ctx, errors=errors, status_code=422)
    except ApiError as exc:
        return await _page(request, ctx, errors={account_id: problems(exc)}, status_code=exc.status)
    return see_other("/admin", "plan_changed")


@router.post("/admin/accounts/{account_id}/suspend")
async def suspend(
    request: Request, account_id: int, admin: SuperAdmin, form: Form, ctx: Ctx
) -> Response:
    return await _switch(request, ctx, admin, account_id, suspended=True)


@router.post("/admin/accounts/{account_id}/restore")
async def restore(
    request: Request, account_id: int, admin: SuperAdmin, form: Form, ctx: Ctx
) -> Response:
    return await _switch(request, ctx, admin, account_id, suspended=False)


async def _switch(
    request: Request, ctx: Ctx, admin: UserPrincipal, account_id: int, *, suspended: bool
) -> Response:
    action = admin_service.suspend if suspended else admin_service.restore
    try:
        await action(ctx, admin, account_id)
    except ApiError as exc:
        return await _page(request, ctx, errors={account_id: problems(exc)}, status_code=exc.status)
    return see_other("/admin", "account_suspended" if suspended else "account_restored")
