"""Google Sheets access: the service account whose e-mail creators share their sheets with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.audit import record
from panel_api.deps import AccountId, Ctx
from panel_api.errors import unprocessable
from panel_api.permissions import Permission
from panel_api.schemas.courses import SheetsAccessIn, SheetsAccessOut
from panel_api.services.sheets_access import (
    check_service_account,
    load_credentials,
    save_credentials,
)

router = APIRouter(
    prefix="/accounts/{account_id}/integrations/google-sheets", tags=["integrations"]
)
Read = Annotated[Access, Depends(AccountRule(Permission.INTEGRATIONS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.INTEGRATIONS_MANAGE))]


@router.get("", response_model=SheetsAccessOut, summary="Is Google Sheets access set up?")
async def get_sheets_access(account_id: AccountId, access: Read, ctx: Ctx) -> SheetsAccessOut:
    async with ctx.db.tenant(access.account_id) as session:
        info = await load_credentials(session, access.account_id, ctx.box)
    if info is None:
        return SheetsAccessOut(configured=False)
    return SheetsAccessOut(configured=True, client_email=info.get("client_email"))


@router.put(
    "",
    response_model=SheetsAccessOut,
    summary="Store the service account key (encrypted; never returned)",
)
async def put_sheets_access(
    account_id: AccountId, body: SheetsAccessIn, access: Manage, ctx: Ctx
) -> SheetsAccessOut:
    try:
        email = check_service_account(body.service_account)
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    async with ctx.db.tenant(access.account_id) as session:
        await save_credentials(session, access.account_id, body.service_account, ctx.box)
        await record(
            session,
            access,
            "sheets.credentials.set",
            "account",
            access.account_id,
            client_email=email,
        )
    return SheetsAccessOut(configured=True, client_email=email)


@router.delete("", status_code=204, summary="Forget the service account key")
async def delete_sheets_access(account_id: AccountId, access: Manage, ctx: Ctx) -> Response:
    async with ctx.db.tenant(access.account_id) as session:
        await save_credentials(session, access.account_id, None, ctx.box)
        await record(session, access, "sheets.credentials.delete", "account", access.account_id)
    return Response(status_code=204)
