"""The account's audit log, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx
from panel_api.permissions import Permission
from storage.repositories import audit

router = APIRouter(prefix="/accounts/{account_id}/audit", tags=["audit"])
Read = Annotated[Access, Depends(AccountRule(Permission.AUDIT_READ))]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]


@router.get("", response_model=list[AuditEntryOut], summary="Who changed what")
async def list_audit(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    before_id: int | None = Query(None, ge=1, le=2**63 - 1, description="next page"),
    limit: int = Query(100, ge=1, le=500),
) -> list[AuditEntryOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await audit.list_recent(session, access.account_id, limit=limit, before_id=before_id)
    return [
        AuditEntryOut(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            details=r.details,
        )
        for r in rows
    ]
