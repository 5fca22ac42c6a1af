"""The account's integrations over HTTP (Google Sheets, LLM endpoint, YooKassa); the rules
are in panel_api/services/integrations.py. Secrets are write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx
from panel_api.permissions import Permission
from panel_api.schemas.courses import SheetsAccessIn, SheetsAccessOut
from panel_api.schemas.integrations import LlmSettingsIn, LlmSettingsOut, YooKassaIn, YooKassaOut
from panel_api.services import integrations as service

router = APIRouter(prefix="/accounts/{account_id}/integrations", tags=["integrations"])
Read = Annotated[Access, Depends(AccountRule(Permission.INTEGRATIONS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.INTEGRATIONS_MANAGE))]


@router.get(
    "/google-sheets", response_model=SheetsAccessOut, summary="Is Google Sheets access set up?"
)
async def get_sheets_access(account_id: AccountId, access: Read, ctx: Ctx) -> SheetsAccessOut:
    return await service.get_sheets_access(ctx, access)


@router.put(
    "/google-sheets",
    response_model=SheetsAccessOut,
    summary="Store the service account key (encrypted; never returned)",
)
async def put_sheets_access(
    account_id: AccountId, body: SheetsAccessIn, access: Manage, ctx: Ctx
) -> SheetsAccessOut:
    return await service.put_sheets_access(ctx, access, body)


@router.delete("/google-sheets", status_code=204, summary="Forget the service account key")
async def delete_sheets_access(account_id: AccountId, access: Manage, ctx: Ctx) -> Response:
    await service.delete_sheets_access(ctx, access)
    return Response(status_code=204)


@router.get(
    "/llm",
    response_model=LlmSettingsOut,
    summary="The account's LLM endpoint, model, budget and this month's usage (no key)",
)
async def get_llm_settings(account_id: AccountId, access: Read, ctx: Ctx) -> LlmSettingsOut:
    return await service.get_llm_settings(ctx, access)


@router.put(
    "/llm",
    response_model=LlmSettingsOut,
    summary="Set the account's LLM endpoint, key (write-only), model, timeout and token budget",
)
async def put_llm_settings(
    account_id: AccountId, body: LlmSettingsIn, access: Manage, ctx: Ctx
) -> LlmSettingsOut:
    return await service.put_llm_settings(ctx, access, body)


@router.delete(
    "/llm", status_code=204, summary="Forget the account's LLM settings (back to the defaults)"
)
async def delete_llm_settings(account_id: AccountId, access: Manage, ctx: Ctx) -> Response:
    await service.delete_llm_settings(ctx, access)
    return Response(status_code=204)


@router.get(
    "/yookassa",
    response_model=YooKassaOut,
    summary="The account's YooKassa shop (no secret) and its notification URL",
)
async def get_yookassa(account_id: AccountId, access: Read, ctx: Ctx) -> YooKassaOut:
    return await service.get_yookassa(ctx, access)


@router.put(
    "/yookassa",
    response_model=YooKassaOut,
    summary="Set the account's YooKassa shop id and secret key (encrypted; never returned)",
)
async def put_yookassa(
    account_id: AccountId, body: YooKassaIn, access: Manage, ctx: Ctx
) -> YooKassaOut:
    return await service.put_yookassa(ctx, access, body)


@router.delete(
    "/yookassa",
    status_code=204,
    summary="Forget the YooKassa shop (paid deployments cannot take payments until it is set)",
)
async def delete_yookassa(account_id: AccountId, access: Manage, ctx: Ctx) -> Response:
    await service.delete_yookassa(ctx, access)
    return Response(status_code=204)
