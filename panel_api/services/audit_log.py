"""Reading the account's audit log (writing it is panel_api/audit.py), newest first."""

from __future__ import annotations

from panel_api.access import Access
from panel_api.context import PanelContext
from panel_api.schemas.audit import AuditEntryOut
from storage.repositories import audit


async def list_audit(
    ctx: PanelContext,
    access: Access,
    *,
    before_id: int | None,
    limit: int,
    action: str | None = None,
) -> list[AuditEntryOut]:
    """Up to `limit` entries older than `before_id` (the next page), or the newest ones."""
    async with ctx.db.tenant(access.account_id) as session:
        rows = await audit.list_recent(
            session, access.account_id, limit=limit, before_id=before_id, action=action
        )
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
