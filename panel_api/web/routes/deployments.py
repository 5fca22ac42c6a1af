"""Deployments and their enrollment tokens: deploy a version to a bot, activate/deactivate,
create and revoke tokens, copy a token's deep link, show it as a QR code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.schemas.deployments import DeploymentCreate, DeploymentUpdate
from panel_api.schemas.outreach import NotificationIn, ReminderIn
from panel_api.schemas.tokens import TokenCreate
from panel_api.services import bots as bots_service
from panel_api.services import deployments as deployments_service
from panel_api.services import outreach as outreach_service
from panel_api.services import tokens as tokens_service
from panel_api.web import lookups, qr
from panel_api.web.rendering import page_translator, render, security_headers
from panel_api.web.routes.common import (
    Form,
    Said,
    field,
    fields,
    page_router,
    problems,
    rule,
    see_other,
)

router = page_router()
Read = Annotated[Access, rule(Permission.DEPLOYMENTS_READ)]
Manage = Annotated[Access, rule(Permission.DEPLOYMENTS_MANAGE)]
TokensRead = Annotated[Access, rule(Permission.TOKENS_READ)]
TokensManage = Annotated[Access, rule(Permission.TOKENS_MANAGE)]
# What a price may be in (YooKassa's currencies; the API takes any ISO 4217 code).
CURRENCIES = ("RUB", "USD", "EUR", "KZT", "BYN", "UZS")
UTM_KEYS = ("source", "medium", "campaign", "content", "term")
TOKEN_FIELDS = (
    "kind",
    "token",
    "label",
    "max_uses",
    "bound_telegram_user_id",
    "expires_at",
    *(f"utm_{key}" for key in UTM_KEYS),
)


@router.get("/accounts/{account_id}/deployments")
async def deployments_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _list_page(request, access, ctx)


async def _list_page(
    request: Request,
    access: Read,
    ctx: Ctx,
    *,
    errors: Said | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    items = await deployments_service.list_deployments(ctx, access)
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
        choices = await lookups.version_choices(session, access.account_id)
    bots = await bots_service.list_bots(ctx, access)
    return await render(
        request,
        "deployments.html",
        access=access,
        status_code=422 if errors else 200,
        deployments=items,
        titles=titles,
        choices=choices,
        bots=bots,
        errors=errors or [],
        values=values or {},
    )


@router.post("/accounts/{account_id}/deployments")
async def create_deployment(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, ("course_version_id", "bot_id", "environment"))
    try:
        body = DeploymentCreate(**values, restricted=form.get("restricted") == "on")
        created = await deployments_service.create_deployment(ctx, access, body)
    except (ValidationError, ApiError) as exc:
        return await _list_page(request, access, ctx, errors=problems(exc), values=values)
    return see_other(f"/accounts/{access.account_id}/deployments/{created.id}", "deployed")


@router.get("/accounts/{account_id}/deployments/{deployment_id}")
async def deployment_page(
    request: Request, account_id: int, deployment_id: int, access: Read, ctx: Ctx
) -> Response:
    return await _deployment_page(request, access, ctx, deployment_id)


async def _deployment_page(
    request: Request,
    access: Read,
    ctx: Ctx,
    deployment_id: int,
    *,
    errors: Said | None = None,
    help_errors: Said | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    errors_for: str = "tokens",
    section_errors: dict[str, Said] | None = None,
) -> Response:
    """`errors_for`: the form the errors belong to (tokens, reminders, notifications)."""
    deployment = await deployments_service.get_deployment(ctx, access, deployment_id)
    tokens = await tokens_service.list_tokens(ctx, access, deployment_id)
    rules = await outreach_service.list_reminders(ctx, access, deployment_id)
    mine = await outreach_service.my_notification(ctx, access, deployment_id)
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
        # Upgrade, price and allow-list sections (their forms: deployment_changes.py).
        versions = await lookups.versions_of(session, access.account_id, deployment.course_id)
    allow_list = await deployments_service.list_restricted(ctx, access, deployment_id)
    started = await deployments_service.runs_started(ctx, access, deployment_id)
    return await render(
        request,
        "deployment.html",
        access=access,
        status_code=status_code,
        deployment=deployment,
        course_title=titles.get(deployment.course_id, ""),
        tokens=tokens,
        reminders=rules,
        notification=mine,
        time_zone=access.account.time_zone,
        errors=errors or [],
        help_errors=help_errors or [],
        errors_for=errors_for,
        values=values or {},
        newer_versions=[(v, n) for v, n in versions if n > deployment.version_number],
        allow_list=allow_list,
        currencies=CURRENCIES,
        section_errors=section_errors or {},
        runs_started=started,
    )


async def deployment_page_with_errors(
    request: Request,
    access: Access,
    ctx: Ctx,
    deployment_id: int,
    section: str,
    errors: Said,
    values: dict[str, str],
) -> Response:
    """The deployment page again after a refused form of one of its sections, the errors
    shown at that section and what was typed kept."""
    return await _deployment_page(
        request,
        access,
        ctx,
        deployment_id,
        values=values,
        section_errors={section: errors},
        status_code=422,
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}")
async def change_deployment(
    request: Request, account_id: int, deployment_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    action = field(form, "action")
    if action not in ("activate", "deactivate"):
        t = await page_translator(request, access)
        return await _deployment_page(
            request, access, ctx, deployment_id, errors=[t("form.unknown_action")], status_code=422
        )
    body = DeploymentUpdate(active=action == "activate")
    await deployments_service.update_deployment(ctx, access, deployment_id, body)
    return see_other(
        f"/accounts/{access.account_id}/deployments/{deployment_id}", "deployment_updated"
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}/help")
async def change_help_text(
    request: Request, account_id: int, deployment_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    """The text `/help` answers in the bot; an empty box brings back the default text."""
    text = str(form.get("help_text") or "")
    try:
        body = (
            DeploymentUpdate(help_text=text)
            if text.strip()
            else DeploymentUpdate(clear_help_text=True)
        )
    except ValidationError as exc:
        return await _deployment_page(
            request,
            access,
            ctx,
            deployment_id,
            help_errors=problems(exc),
            values={"help_text": text},
            status_code=422,
        )
    await deployments_service.update_deployment(ctx, access, deployment_id, body)
    return see_other(
        f"/accounts/{access.account_id}/deployments/{deployment_id}", "deployment_updated"
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}/tokens")
async def create_token(
    request: Request,
    account_id: int,
    deployment_id: int,
    access: TokensManage,
    form: Form,
    ctx: Ctx,
) -> Response:
    values = fields(form, TOKEN_FIELDS)
    try:
        body = TokenCreate(**_token_body(values, access.account.time_zone))
        await tokens_service.create_token(ctx, access, deployment_id, body)
    except ValidationError as exc:
        return await _deployment_page(
            request,
            access,
            ctx,
            deployment_id,
            errors=problems(exc),
            values=values,
            status_code=422,
        )
    except ApiError as exc:
        return await _deployment_page(
            request,
            access,
            ctx,
            deployment_id,
            errors=problems(exc),
            values=values,
            status_code=exc.status,
        )
    return see_other(f"/accounts/{access.account_id}/deployments/{deployment_id}", "token_created")


def _token_body(values: dict[str, str], zone: str) -> dict[str, Any]:
    """The API's body; the expiry typed in the form is a time of the account's zone."""
    body: dict[str, Any] = {
        key: values[key]
        for key in ("kind", "token", "label", "max_uses", "bound_telegram_user_id", "expires_at")
        if key in values
    }
    if "expires_at" in body:
        try:
            typed = datetime.fromisoformat(body["expires_at"])
        except ValueError:
            pass  # the API's model says what is wrong with it
        else:
            if typed.tzinfo is None:
                body["expires_at"] = typed.replace(tzinfo=ZoneInfo(zone))
    utm = {key: values[f"utm_{key}"] for key in UTM_KEYS if f"utm_{key}" in values}
    if utm:
        body["utm"] = utm
    return body


@router.post("/accounts/{account_id}/deployments/{deployment_id}/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request,
    account_id: int,
    deployment_id: int,
    token_id: int,
    access: TokensManage,
    form: Form,
    ctx: Ctx,
) -> Response:
    await tokens_service.revoke_token(ctx, access, deployment_id, token_id)
    return see_other(f"/accounts/{access.account_id}/deployments/{deployment_id}", "token_revoked")


@router.get("/accounts/{account_id}/deployments/{deployment_id}/tokens/{token_id}/qr.svg")
async def token_qr(
    request: Request,
    account_id: int,
    deployment_id: int,
    token_id: int,
    access: TokensRead,
    ctx: Ctx,
) -> Response:
    token = await tokens_service.get_token(ctx, access, deployment_id, token_id)
    return Response(
        qr.svg(token.deep_link),
        media_type="image/svg+xml",
        headers={**security_headers(), "Cache-Control": "private, max-age=3600"},
    )


# ---- reminders and the member's own notifications --------------------------------------------

REMINDER_FIELDS = ("after", "unit", "max_count", "text", "quiet_start", "quiet_end")


def _reminder_body(values: dict[str, str]) -> ReminderIn:
    """The form's "after N minutes/hours" as the API's minutes; a non-number is left for the
    model to refuse in plain words."""
    after: object = values.get("after")
    if isinstance(after, str) and after.isdigit() and values.get("unit") == "hours":
        after = int(after) * 60
    quiet = None
    if "quiet_start" in values or "quiet_end" in values:
        quiet = {"start": values.get("quiet_start", ""), "end": values.get("quiet_end", "")}
    body: dict[str, Any] = {"after_minutes": after, "text": values.get("text", "")}
    if "max_count" in values:
        body["max_count"] = values["max_count"]
    if quiet is not None:
        body["quiet_hours"] = quiet
    return ReminderIn.model_validate(body)


@router.post("/accounts/{account_id}/deployments/{deployment_id}/reminders")
async def create_reminder(
    request: Request, account_id: int, deployment_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, REMINDER_FIELDS)
    try:
        await outreach_service.create_reminder(ctx, access, deployment_id, _reminder_body(values))
    except ValidationError as exc:
        return await _deployment_page(
            request,
            access,
            ctx,
            deployment_id,
            errors=problems(exc),
            values=values,
            status_code=422,
            errors_for="reminders",
        )
    return see_other(
        f"/accounts/{access.account_id}/deployments/{deployment_id}", "reminder_created"
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}/reminders/{reminder_id}/delete")
async def delete_reminder(
    request: Request,
    account_id: int,
    deployment_id: int,
    reminder_id: int,
    access: Manage,
    form: Form,
    ctx: Ctx,
) -> Response:
    await outreach_service.delete_reminder(ctx, access, deployment_id, reminder_id)
    return see_other(
        f"/accounts/{access.account_id}/deployments/{deployment_id}", "reminder_deleted"
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}/notifications")
async def save_notifications(
    request: Request, account_id: int, deployment_id: int, access: Read, form: Form, ctx: Ctx
) -> Response:
    here = f"/accounts/{access.account_id}/deployments/{deployment_id}"
    if field(form, "action") == "off":
        await outreach_service.delete_notification(ctx, access, deployment_id)
        return see_other(here, "notifications_off")
    values = fields(form, ("fail_below", "digest_hour"))
    try:
        body = NotificationIn.model_validate(
            {
                **values,
                **{flag: form.get(flag) == "on" for flag in ("on_finish", "on_fail", "on_stuck")},
            }
        )
        await outreach_service.set_notification(ctx, access, deployment_id, body)
    except (ValidationError, ApiError) as exc:
        messages = problems(exc)
    else:
        return see_other(here, "notifications_saved")
    return await _deployment_page(
        request,
        access,
        ctx,
        deployment_id,
        errors=messages,
        values=values,
        status_code=422,
        errors_for="notifications",
    )
