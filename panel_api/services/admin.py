"""The platform operator's view of accounts: every account with its usage against its limits,
plans and per-account limit overrides, suspending and restoring.

Suspending is the account's soft delete (bots stop, every row is kept), done by the operator;
restoring undoes it. Both are written to the account's audit log under the operator's name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.auth.principal import UserPrincipal
from panel_api.context import PanelContext
from panel_api.errors import conflict, not_found, unprocessable
from panel_api.schemas.accounts import AdminAccountOut, AdminAccountUpdate, LimitsOut, UsageOut
from storage import plans, system
from storage.models import Account
from storage.repositories import accounts, audit


async def list_all_accounts(ctx: PanelContext, *, include_deleted: bool) -> list[AdminAccountOut]:
    async with ctx.db.system() as session:
        rows = await system.list_accounts(session, include_deleted=include_deleted)
    found = []
    for row in rows:  # usage is counted inside each tenant: row-level security sees to it
        async with ctx.db.tenant(row.id) as session:
            found.append(_out(row, await plans.usage(session, row.id)))
    return found


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
        await _record(session, admin, account_id, "account.plan", plan=body.plan, limits=overrides)
        return _out(account, await plans.usage(session, account_id))


async def suspend(ctx: PanelContext, admin: UserPrincipal, account_id: int) -> AdminAccountOut:
    """Stop the account's bots and close its panel to its members, keeping everything."""
    return await _set_suspended(ctx, admin, account_id, suspended=True)


async def restore(ctx: PanelContext, admin: UserPrincipal, account_id: int) -> AdminAccountOut:
    return await _set_suspended(ctx, admin, account_id, suspended=False)


async def _set_suspended(
    ctx: PanelContext, admin: UserPrincipal, account_id: int, *, suspended: bool
) -> AdminAccountOut:
    async with ctx.db.tenant(account_id) as session:
        if await accounts.get(session, account_id) is None:
            raise not_found("account")
        change = accounts.soft_delete if suspended else accounts.restore
        if not await change(session, account_id):
            raise conflict(
                f"the account is {'suspended already' if suspended else 'not suspended'}",
                key="problem.suspended_already" if suspended else "problem.not_suspended",
            )
        await _record(
            session, admin, account_id, f"account.{'suspend' if suspended else 'restore'}"
        )
        account = await accounts.get(session, account_id)
        assert account is not None
        return _out(account, await plans.usage(session, account_id))


async def _record(
    session: AsyncSession, admin: UserPrincipal, account_id: int, action: str, **details: Any
) -> None:
    await audit.record(
        session,
        account_id,
        actor=admin.actor,
        action=action,
        object_type="account",
        object_id=account_id,
        details=details,
    )


def _out(account: Account, usage: plans.Usage) -> AdminAccountOut:
    return AdminAccountOut(
        id=account.id,
        slug=account.slug,
        name=account.name,
        plan=account.plan,
        limit_overrides=dict(account.limits or {}),
        limits=LimitsOut(**plans.effective_limits(account).__dict__),
        usage=UsageOut(**usage.__dict__),
        created_at=account.created_at,
        deleted_at=account.deleted_at,
    )
