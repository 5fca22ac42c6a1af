"""Integrations page: the account's own LLM endpoint (key, model, monthly token budget) and its
YooKassa shop with the notification URL to paste into YooKassa, plus Google Sheets' status.

Secrets are never put back into a page: their fields stay empty, and an empty key field keeps
the stored key (the API's rule: only while the base URL stays the same).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.schemas.integrations import LlmSettingsIn, YooKassaIn
from panel_api.services import integrations as integrations_service
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
Read = Annotated[Access, rule(Permission.INTEGRATIONS_READ)]
Manage = Annotated[Access, rule(Permission.INTEGRATIONS_MANAGE)]
LLM_FIELDS = (
    "base_url",
    "api_key",
    "model",
    "transcription_model",
    "monthly_token_limit",
    "timeout_s",
)
YOOKASSA_FIELDS = ("shop_id", "secret_key")


def _url(account_id: int) -> str:
    return f"/accounts/{account_id}/integrations"


@router.get("/accounts/{account_id}/integrations")
async def integrations_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _page(request, access, ctx)


async def _page(
    request: Request,
    access: Read,
    ctx: Ctx,
    *,
    form_name: str | None = None,
    errors: Said | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    llm = await integrations_service.get_llm_settings(ctx, access)
    yookassa = await integrations_service.get_yookassa(ctx, access)
    sheets = await integrations_service.get_sheets_access(ctx, access)
    # A refused form shows what was typed (never the secrets); otherwise the stored values.
    shown = dict(values or {})
    shown.pop("api_key", None)
    shown.pop("secret_key", None)
    return await render(
        request,
        "integrations.html",
        access=access,
        status_code=status_code,
        llm=llm,
        yookassa=yookassa,
        sheets=sheets,
        form_name=form_name,
        errors=errors or [],
        values=shown,
    )


async def _refused(
    request: Request,
    access: Manage,
    ctx: Ctx,
    exc: ValidationError | ApiError,
    form_name: str,
    values: dict[str, str],
) -> Response:
    if isinstance(exc, ValidationError):
        errors, status = problems(exc), 422
    else:
        errors, status = problems(exc), exc.status
    return await _page(
        request,
        access,
        ctx,
        form_name=form_name,
        errors=errors,
        values=values,
        status_code=status,
    )


@router.post("/accounts/{account_id}/integrations/llm")
async def save_llm(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, LLM_FIELDS)
    try:
        body = LlmSettingsIn(**values)
        await integrations_service.put_llm_settings(ctx, access, body)
    except (ValidationError, ApiError) as exc:
        return await _refused(request, access, ctx, exc, "llm", values)
    return see_other(_url(access.account_id), "llm_saved")


@router.post("/accounts/{account_id}/integrations/llm/delete")
async def delete_llm(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    await integrations_service.delete_llm_settings(ctx, access)
    return see_other(_url(access.account_id), "llm_deleted")


@router.post("/accounts/{account_id}/integrations/yookassa")
async def save_yookassa(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, YOOKASSA_FIELDS)
    try:
        body = YooKassaIn(**values)
        await integrations_service.put_yookassa(ctx, access, body)
    except (ValidationError, ApiError) as exc:
        return await _refused(request, access, ctx, exc, "yookassa", values)
    return see_other(_url(access.account_id), "yookassa_saved")


@router.post("/accounts/{account_id}/integrations/yookassa/delete")
async def delete_yookassa(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    await integrations_service.delete_yookassa(ctx, access)
    return see_other(_url(access.account_id), "yookassa_deleted")
