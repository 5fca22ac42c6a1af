"""Accounts: create (the creator becomes owner, within the per-person cap), read with limits
and usage, rename, soft delete -> restore -> purge."""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata

from redis.exceptions import RedisError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.audit import record
from panel_api.auth.principal import UserPrincipal
from panel_api.context import PanelContext
from panel_api.errors import conflict
from panel_api.schemas.accounts import AccountCreate, AccountOut, AccountUpdate, LimitsOut, UsageOut
from panel_api.schemas.auth import AccountSummary
from storage import plans, system
from storage.models import Account, MemberRole
from storage.redis_keys import account_key_pattern, erase_account_keys
from storage.repositories import accounts, audit, members

log = logging.getLogger(__name__)
# What decides who may restore a deleted account: an operator's suspension outlasts an
# owner's delete (see restore_account).
SUSPENSION_ACTIONS = ("account.delete", "account.suspend", "account.restore")


async def list_my_accounts(ctx: PanelContext, user: UserPrincipal) -> list[AccountSummary]:
    """Every account the user is a member of, deleted ones too (they may be restored)."""
    async with ctx.db.system() as session:
        rows = await system.accounts_of_user(session, user.telegram_user_id, include_deleted=True)
    return [
        AccountSummary(
            id=r.account_id, slug=r.slug, name=r.name, role=r.role, deleted=r.deleted_at is not None
        )
        for r in rows
    ]


async def create_account(ctx: PanelContext, user: UserPrincipal, body: AccountCreate) -> AccountOut:
    slug = body.slug or _slug_from(body.name)
    try:
        async with ctx.db.system() as session:
            if not user.superadmin:
                await _check_account_limit(session, user, ctx.panel.max_accounts_per_user)
            account = await system.create_account(session, slug=slug, name=body.name, plan="free")
            await members.add(
                session,
                account.id,
                telegram_user_id=user.telegram_user_id,
                username=user.username,
                role=MemberRole.OWNER,
            )
            await audit.record(
                session,
                account.id,
                actor=user.actor,
                action="account.create",
                object_type="account",
                object_id=account.id,
                details={"slug": slug, "name": body.name},
            )
            usage = await plans.usage(session, account.id)
    except IntegrityError:
        raise conflict(
            f"the slug {slug!r} is taken; choose another", key="problem.slug_taken", slug=slug
        ) from None
    return _out(account, MemberRole.OWNER.value, usage)


async def get_account(ctx: PanelContext, access: Access) -> AccountOut:
    async with ctx.db.tenant(access.account_id) as session:
        usage = await plans.usage(session, access.account_id)
    return _out(access.account, access.role, usage)


async def update_account(ctx: PanelContext, access: Access, body: AccountUpdate) -> AccountOut:
    """Name, time zone and stuck threshold; only the fields sent change."""
    changes = body.model_dump(exclude_none=True)
    async with ctx.db.tenant(access.account_id) as session:
        account = await accounts.update_account(session, access.account_id, **changes)
        assert account is not None  # the rule just found it in this account
        await record(session, access, "account.update", "account", account.id, **changes)
        usage = await plans.usage(session, access.account_id)
    return _out(account, access.role, usage)


async def delete_account(ctx: PanelContext, access: Access) -> AccountOut:
    async with ctx.db.tenant(access.account_id) as session:
        await accounts.soft_delete(session, access.account_id)
        await record(session, access, "account.delete", "account", access.account_id)
        account = await accounts.get(session, access.account_id)
        usage = await plans.usage(session, access.account_id)
    assert account is not None
    return _out(account, access.role, usage)


async def restore_account(ctx: PanelContext, access: Access) -> AccountOut:
    """An account the platform's operator suspended is theirs to restore, not its owner's
    (panel_api/services/admin.py records the suspension; the last word in the log counts)."""
    async with ctx.db.tenant(access.account_id) as session:
        operator = isinstance(access.principal, UserPrincipal) and access.principal.superadmin
        last = await audit.latest_action(session, access.account_id, SUSPENSION_ACTIONS)
        if last == "account.suspend" and not operator:
            raise conflict(
                "the platform's operator suspended this account; only they can restore it",
                key="problem.suspended_by_operator",
            )
        if not await accounts.restore(session, access.account_id):
            raise conflict("the account is not deleted", key="problem.account_not_deleted")
        await record(session, access, "account.restore", "account", access.account_id)
        account = await accounts.get(session, access.account_id)
        usage = await plans.usage(session, access.account_id)
    assert account is not None
    return _out(account, access.role, usage)


async def purge_account(ctx: PanelContext, access: Access) -> None:
    if access.account.deleted_at is None:
        raise conflict(
            "delete the account first; purge only erases a deleted account",
            key="problem.purge_needs_delete",
        )
    async with ctx.db.tenant(access.account_id) as session:
        await session.execute(
            delete(Account).where(Account.id == access.account_id, Account.deleted_at.is_not(None))
        )
    # The audit log goes with the account, so the purge itself is only in the process log.
    log.info("account %s purged by %s", access.account_id, access.actor)
    if ctx.redis is not None:  # after the commit: no bot of the account is left to write keys
        try:
            erased = await erase_account_keys(ctx.redis, access.account_id)
        except (RedisError, OSError) as exc:
            # The account is gone already; its cached positions say nothing without it.
            log.error(
                "account %s: Redis keys %s not erased (%s); remove them by hand",
                access.account_id,
                account_key_pattern(access.account_id),
                type(exc).__name__,
            )
        else:
            log.info("account %s: %d Redis keys erased", access.account_id, erased)


async def _check_account_limit(session: AsyncSession, user: UserPrincipal, limit: int) -> None:
    """Every account starts on the free plan: without a cap, more accounts would sidestep
    its limits. Deleted accounts count until purged (a restore would bring them back)."""
    if await system.owned_accounts_locked(session, user.telegram_user_id) >= limit:
        raise conflict(
            f"you already own {limit} {'account' if limit == 1 else 'accounts'}, the most one "
            "person may have; purge a deleted one or ask the platform's operator for more",
            key="limit.max_accounts_per_user",
            limit="max_accounts_per_user",
            count=limit,
        )


def _out(account: Account, role: str, usage: plans.Usage) -> AccountOut:
    limits = plans.effective_limits(account)
    return AccountOut(
        id=account.id,
        slug=account.slug,
        name=account.name,
        plan=account.plan,
        limits=LimitsOut(**limits.__dict__),
        usage=UsageOut(**usage.__dict__),
        role=role,
        time_zone=account.time_zone,
        stuck_after_minutes=account.stuck_after_minutes,
        created_at=account.created_at,
        deleted_at=account.deleted_at,
    )


def _slug_from(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40]
    if len(base) < 2:
        base = "school"
    return f"{base}-{secrets.token_hex(3)}"
