"""Cross-account reads, through the migration's SECURITY DEFINER `sys_*` functions.

The app role cannot see any tenant row without naming an account, yet the runtime must list
every bot to start, route a webhook by its opaque id, claim whichever timer is due next, and
the panel must find a user's accounts at login. Each such question is one narrow function
here; call them in a `db.system()` session. Everything else goes through tenant sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import bind_tenant
from storage.models import Account, MemberRole


@dataclass(frozen=True)
class ClaimedWait:
    """A due timer locked by the current transaction; fire it before committing."""

    waiting_id: int
    account_id: int
    run_id: int


@dataclass(frozen=True)
class UserAccount:
    account_id: int
    slug: str
    name: str
    role: str
    deleted_at: datetime | None


@dataclass(frozen=True)
class ApiKeyOwner:
    """A live key's account and role, with who made it and that person's role there now
    (None when they are no longer a member; `created_by` None: nobody knows who made it)."""

    api_key_id: int
    account_id: int
    role: str
    created_by: int | None
    maker_role: str | None


@dataclass(frozen=True, slots=True)
class PoolBot:
    """An active bot as the bot pool needs it, secrets still sealed."""

    id: int
    account_id: int
    username: str
    token_ciphertext: str
    mode: str
    public_id: str
    webhook_secret_ciphertext: str | None
    default_deployment_id: int | None


async def active_bots_for_pool(session: AsyncSession) -> list[PoolBot]:
    """The bot pool: active bots of accounts that are not deleted, secrets still sealed.
    Plain rows: the pool reads every active bot every second, and building ORM objects for
    10,000 rows cost ~0.25 s of CPU each time."""
    rows = await session.execute(
        text(
            "SELECT id, account_id, username, token_ciphertext, mode, public_id, "
            "webhook_secret_ciphertext, default_deployment_id FROM sys_active_bots()"
        )
    )
    return [PoolBot(*row) for row in rows]


async def claim_due_waits(session: AsyncSession, now: datetime, *, limit: int) -> list[ClaimedWait]:
    """Lock up to `limit` due pending timers, oldest first (SKIP LOCKED, so several runners
    share the work); the locks are released when the transaction ends.

    The timers may belong to different accounts: storage/timers.py names them all to
    PostgreSQL (`app.account_ids`) and fires the batch in one statement.
    """
    rows = await session.execute(
        text("SELECT id, account_id, run_id FROM sys_claim_due_waitings(:now, :limit)"),
        {"now": now, "limit": limit},
    )
    return [ClaimedWait(waiting_id=r.id, account_id=r.account_id, run_id=r.run_id) for r in rows]


async def accounts_of_user(
    session: AsyncSession, telegram_user_id: int, *, include_deleted: bool = False
) -> list[UserAccount]:
    """Accounts a Telegram user is a member of (panel login), with their role in each."""
    rows = await session.execute(
        text(
            "SELECT account_id, slug, name, role, deleted_at "
            "FROM sys_accounts_of_user(:user_id, :include_deleted)"
        ),
        {"user_id": telegram_user_id, "include_deleted": include_deleted},
    )
    return [UserAccount(*row) for row in rows]


async def api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKeyOwner | None:
    """Resolve an API key (by its SHA-256) to its account and maker; revoked keys resolve
    to None."""
    row = (
        await session.execute(
            text(
                "SELECT api_key_id, account_id, role, created_by, maker_role "
                "FROM sys_api_key_by_hash(:key_hash)"
            ),
            {"key_hash": key_hash},
        )
    ).first()
    return ApiKeyOwner(*row) if row else None


async def owned_accounts_locked(session: AsyncSession, telegram_user_id: int) -> int:
    """How many accounts the person owns, deleted ones included (a restore would bring them
    back), counted under a per-person lock held until the transaction ends, so that two
    account creations at once cannot both pass a limit on this count."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('coursebot.owner:' || :user_id, 0))"),
        {"user_id": str(telegram_user_id)},
    )
    mine = await accounts_of_user(session, telegram_user_id, include_deleted=True)
    return sum(1 for account in mine if account.role == MemberRole.OWNER)


async def create_account(session: AsyncSession, *, slug: str, name: str, plan: str) -> Account:
    """Insert an account and bind the session to it, so its first rows go in the same tx."""
    stmt = select(Account).from_statement(
        text("SELECT * FROM sys_create_account(:slug, :name, :plan)").bindparams(
            slug=slug, name=name, plan=plan
        )
    )
    account: Account = (await session.scalars(stmt)).one()
    await bind_tenant(session, account.id)
    return account


async def list_accounts(session: AsyncSession, *, include_deleted: bool = False) -> list[Account]:
    """Every account of the platform, for super-admins only (the caller checks who asks)."""
    stmt = select(Account).from_statement(
        text("SELECT * FROM sys_list_accounts(:include_deleted)").bindparams(
            include_deleted=include_deleted
        )
    )
    return list((await session.scalars(stmt)).all())
