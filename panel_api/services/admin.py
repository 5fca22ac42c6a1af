"""The platform operator's view of accounts: every account, plans and per-account limit
overrides."""

from __future__ import annotations

from typing import Any

from panel_api.auth.principal import UserPrincipal
from panel_api.context import PanelContext
from panel_api.errors import not_found, unprocessable
from panel_api.schemas.accounts import AdminAccountOut, AdminAccountUpdate
from storage import plans, system
from storage.models import Account
from storage.repositories import accounts, audit


async def list_all_accounts(ctx: PanelContext, *, include_deleted: bool) -> list[AdminAccountOut]:
    async with ctx.db.system() as session:
        rows = await system.list_accounts(session, include_deleted=include_deleted)
    return [_out(row) for row in rows]


async def update_plan(
    ctx: PanelContext, admin: UserPrincipal, account_id: int, body: AdminAccountUpdate
) -> AdminAccountOut:
    if body.plan is not None and body.plan not in plans.PLANS:
        raise unprocessable(
            f"unknown plan {body.plan!r}; known: {', '.join(plans.PLANS)}",
            key="problem.plan_unknown",
            plans=", ".join(plans.PLANS),
        )
    try:
        overrides = None if body.limits is None else plans.check_overrides(body.limits)
    except ValueError as exc:
        raise unprocessable(str(exc), key="problem.limits_bad") from None
    async with ctx.db.tenant(account_id) as session:
        changes: dict[str, Any] = {}
        if body.plan is not None:
            changes["plan"] = body.plan
        if overrides is not None:
            changes["limits"] = overrides
        account = await accounts.update_account(session, account_id, **changes)
        if account is None:
            raise not_found("account")
        await audit.record(
            session,
            account_id,
            actor=admin.actor,
            action="account.plan",
            object_type="account",
            object_id=account_id,
            details={"plan": body.plan, "limits": overrides},
        )
    return _out(account)


def _out(account: Account) -> AdminAccountOut:
    return AdminAccountOut(
        id=account.id,
        slug=account.slug,
        name=account.name,
        plan=account.plan,
        limit_overrides=dict(account.limits or {}),
        created_at=account.created_at,
        deleted_at=account.deleted_at,
    )
