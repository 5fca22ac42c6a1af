"""Bots page: connected bots with their mode and last update, add by token, enable/disable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.schemas.bots import BotCreate, BotTokenRotate, BotUpdate
from panel_api.services import bots as bots_service
from panel_api.services import deployments as deployments_service
from panel_api.web import lookups
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import (
    Form,
    Said,
    field,
    page_router,
    problems,
    rule,
    see_other,
)

router = page_router()
Read = Annotated[Access, rule(Permission.BOTS_READ)]
Manage = Annotated[Access, rule(Permission.BOTS_MANAGE)]
ACTIONS: dict[str, dict[str, Any]] = {
    "enable": {"active": True},
    "disable": {"active": False},
    "polling": {"mode": "polling"},
    "webhook": {"mode": "webhook"},
}


@router.get("/accounts/{account_id}/bots")
async def bots_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _page(request, access, ctx)


async def _page(
    request: Request,
    access: Read,
    ctx: Ctx,
    *,
    errors: Said | None = None,
    action_errors: Said | None = None,
    mode: str = "polling",
    status_code: int = 200,
) -> Response:
    bots = await bots_service.list_bots(ctx, access)
    # Each bot's deployments, for its "plain /start" choice (the default deployment).
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
    served: dict[int, list[tuple[int, str]]] = {}
    for d in await deployments_service.list_deployments(ctx, access):
        label = f"#{d.id} {titles.get(d.course_id, '')} v{d.version_number} ({d.environment})"
        served.setdefault(d.bot_id, []).append((d.id, label))
    return await render(
        request,
        "bots.html",
        access=access,
        status_code=status_code,
        bots=bots,
        errors=errors or [],
        action_errors=action_errors or [],
        mode=mode,
        served=served,
    )


@router.post("/accounts/{account_id}/bots")
async def add_bot(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    mode = field(form, "mode") or "polling"
    try:
        body = BotCreate(token=field(form, "token") or "", mode=mode)
        await bots_service.add_bot(ctx, access, body)
    except ValidationError as exc:
        errors = problems(exc)
        return await _page(request, access, ctx, errors=errors, mode=mode, status_code=422)
    except ApiError as exc:
        return await _page(
            request, access, ctx, errors=problems(exc), mode=mode, status_code=exc.status
        )
    return see_other(f"/accounts/{access.account_id}/bots", "bot_added")


@router.post("/accounts/{account_id}/bots/{bot_id}")
async def change_bot(
    request: Request, account_id: int, bot_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    change = ACTIONS.get(field(form, "action") or "")
    if change is None:
        t = await page_translator(request, access)
        return await _page(
            request, access, ctx, action_errors=[t("form.unknown_action")], status_code=422
        )
    try:
        await bots_service.update_bot(ctx, access, bot_id, BotUpdate(**change))
    except ApiError as exc:
        return await _page(
            request, access, ctx, action_errors=problems(exc), status_code=exc.status
        )
    return see_other(f"/accounts/{access.account_id}/bots", "bot_updated")


# --- a new token, the default deployment ----------------------------------------------------


@router.post("/accounts/{account_id}/bots/{bot_id}/token")
async def replace_token(
    request: Request, account_id: int, bot_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    """After /revoke in BotFather: the same bot's new token (Telegram is asked, as on add)."""
    try:
        body = BotTokenRotate(token=field(form, "token") or "")
        await bots_service.rotate_token(ctx, access, bot_id, body)
    except ValidationError as exc:
        errors = problems(exc)
        return await _page(request, access, ctx, action_errors=errors, status_code=422)
    except ApiError as exc:
        return await _page(
            request, access, ctx, action_errors=problems(exc), status_code=exc.status
        )
    return see_other(f"/accounts/{access.account_id}/bots", "bot_token_replaced")


@router.post("/accounts/{account_id}/bots/{bot_id}/default")
async def set_default_deployment(
    request: Request, account_id: int, bot_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    """What a plain /start (no link) opens; none = the student is asked for a link."""
    raw = field(form, "default_deployment_id")
    try:
        body = (
            BotUpdate.model_validate({"default_deployment_id": raw})
            if raw
            else BotUpdate(clear_default_deployment=True)
        )
        await bots_service.update_bot(ctx, access, bot_id, body)
    except ValidationError as exc:
        errors = problems(exc)
        return await _page(request, access, ctx, action_errors=errors, status_code=422)
    except ApiError as exc:
        return await _page(
            request, access, ctx, action_errors=problems(exc), status_code=exc.status
        )
    return see_other(f"/accounts/{access.account_id}/bots", "bot_updated")
