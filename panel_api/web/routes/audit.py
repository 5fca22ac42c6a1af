"""Audit log page: who changed what in the account, newest first, one area at a time if
asked, a page of entries at a time (the API's `before_id` paging)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Request, Response

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.permissions import Permission
from panel_api.schemas.audit import ACTION_PATTERN
from panel_api.services import audit_log as audit_service
from panel_api.services import members as members_service
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import page_router, rule

router = page_router()
Read = Annotated[Access, rule(Permission.AUDIT_READ)]
PAGE_SIZE = 50
AREAS = (
    "account",
    "member",
    "api_key",
    "bot",
    "course",
    "deployment",
    "restricted",
    "token",
    "run",
    "student",
    "llm",
    "sheets",
    "yookassa",
)


@router.get("/accounts/{account_id}/audit")
async def audit_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    """Filters come from links and a select, so a bad value (a hand-edited URL) is said, not
    silently ignored: the page lists nothing for it and names the problem."""
    t = await page_translator(request, access)
    raw_area = request.query_params.get("area") or None
    raw_before = request.query_params.get("before") or None
    problems = []
    area = raw_area if raw_area is None or re.fullmatch(ACTION_PATTERN, raw_area) else None
    if raw_area is not None and area is None:
        problems.append(t("audit.bad_area"))
    before = (
        int(raw_before) if raw_before and raw_before.isascii() and raw_before.isdigit() else None
    )
    if raw_before is not None and (before is None or not 1 <= before <= 2**63 - 1):
        problems.append(t("audit.bad_before"))
        before = None
    entries = []
    if not problems:
        entries = await audit_service.list_audit(
            ctx, access, before_id=before, limit=PAGE_SIZE + 1, action=area
        )
    # Actors as people know them: "@olga" for a member with a username, else "tg:<id>".
    names = {
        f"tg:{m.telegram_user_id}": f"@{m.username}"
        for m in await members_service.list_members(ctx, access)
        if m.username
    }
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    base = f"/accounts/{access.account_id}/audit"
    area_query = f"area={area}&" if area else ""
    return await render(
        request,
        "audit.html",
        access=access,
        status_code=422 if problems else 200,
        entries=entries,
        names=names,
        areas=AREAS,
        area=area or "",
        problems=problems,
        first_url=f"{base}?{area_query}".rstrip("?&") if before else None,
        next_url=f"{base}?{area_query}before={entries[-1].id}" if more else None,
    )
