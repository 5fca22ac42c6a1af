"""The account's audit log over HTTP, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx
from panel_api.permissions import Permission
from panel_api.schemas.audit import ACTION_PATTERN, AuditEntryOut
from panel_api.services import audit_log as service

router = APIRouter(prefix="/accounts/{account_id}/audit", tags=["audit"])
Read = Annotated[Access, Depends(AccountRule(Permission.AUDIT_READ))]


@router.get("", response_model=list[AuditEntryOut], summary="Who changed what")
async def list_audit(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    before_id: int | None = Query(None, ge=1, le=2**63 - 1, description="next page"),
    limit: int = Query(100, ge=1, le=500),
    action: str | None = Query(
        None,
        pattern=ACTION_PATTERN,
        description="one action (`member.role`) or every action of an area (`member`)",
    ),
) -> list[AuditEntryOut]:
    return await service.list_audit(ctx, access, before_id=before_id, limit=limit, action=action)
