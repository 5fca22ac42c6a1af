"""The app's database handle: one engine as the app role, sessions scoped to one account.

`db.tenant(account_id)` is the normal way in: a transaction in which PostgreSQL itself (RLS)
shows only that account's rows, on top of the `account_id` filter every repository applies.
The setting is applied by an `after_begin` hook with `set_config(..., true)` (SET LOCAL
cannot take a bind parameter), so it is transaction-local and re-applied if the session
starts another transaction; a pooled connection never carries it over to the next user.

`db.system()` is a transaction with no account set: tenant tables are invisible there, and
only the SECURITY DEFINER `sys_*` functions (storage/system.py) read across accounts.
`bind_tenant` switches such a session to one account, e.g. after creating that account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from storage.batch import BatchConnection, BatchStats
from storage.config import Settings
from storage.crypto import SecretBox
from storage.migrate import upgrade_to_head
from storage.roles import ensure_app_role

_ACCOUNT_KEY = "coursebot.account_id"
_SET_ACCOUNT = text("SELECT set_config('app.account_id', :account_id, true)")
APP_ROLE_PASSWORD_PURPOSE = "database-app-role-password"


class ScopedSession(Session):
    """Session class whose transactions start by naming their account to PostgreSQL."""


@event.listens_for(ScopedSession, "after_begin")
def _apply_account(session: Session, tx: SessionTransaction, connection: Connection) -> None:
    account_id = session.info.get(_ACCOUNT_KEY)
    # A SAVEPOINT runs inside the transaction that already named the account.
    if account_id is not None and not tx.nested:
        connection.execute(_SET_ACCOUNT, {"account_id": str(account_id)})


# SQLSTATE classes of a database that failed, not of data it refused: connection exception,
# transaction rollback (serialization, deadlock), insufficient resources, operator
# intervention (shutdown, restart), system error.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")


def is_transient_failure(error: BaseException) -> bool:
    """True when the same work may well succeed later (PostgreSQL restarting, no connection
    free): the caller must leave it to be retried rather than record it as failed."""
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        return (
            error.connection_invalidated
            or sqlstate is None
            or (sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES)
        )
    if isinstance(error, asyncpg.PostgresError):  # batch connections (storage/batch.py)
        sqlstate = getattr(error, "sqlstate", None) or ""
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    # asyncpg's InterfaceError: the connection closed under a statement.
    return isinstance(error, (PoolTimeoutError, OSError, TimeoutError, asyncpg.InterfaceError))


def check_account_id(account_id: Any) -> int:
    """Reject anything but a positive int: a None or "1 OR 1=1" must never reach a query."""
    if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id <= 0:
        raise ValueError(f"account_id must be a positive integer, got {account_id!r}")
    return account_id


async def bind_tenant(session: AsyncSession, account_id: int) -> None:
    """Scope an open (system) session to one account, now and for its later transactions."""
    session.info[_ACCOUNT_KEY] = check_account_id(account_id)
    await session.execute(_SET_ACCOUNT, {"account_id": str(account_id)})


_NAME_ACCOUNTS = text("SELECT set_config('app.account_ids', :ids, true)")


async def name_accounts(session: AsyncSession, account_ids: Iterable[int]) -> None:
    """Name several accounts to PostgreSQL for the rest of this (system) transaction, as the
    journal's batches do (migration 0006): one statement then serves rows of them all."""
    ids = sorted({check_account_id(a) for a in account_ids})
    await session.execute(_NAME_ACCOUNTS, {"ids": "{" + ",".join(map(str, ids)) + "}"})


class Database:
    """Engine + session factory for the app role. Create one per process."""

    def __init__(
        self,
        app_url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
        echo: bool = False,
    ) -> None:
        self.engine: AsyncEngine = create_async_engine(
            app_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            # No ping before every checkout: it cost a round trip per transaction (~20% of
            # a small one; docs/benchmarks.md). A connection found dead raises once and makes
            # SQLAlchemy discard every pooled connection older than it; callers retry.
            pool_pre_ping=False,
            echo=echo,
        )
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=ScopedSession
        )
        # The same role and server, for plain asyncpg connections (storage/batch.py).
        self._batch_dsn = (
            make_url(app_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self.batch_stats = BatchStats()

    @asynccontextmanager
    async def tenant(self, account_id: int) -> AsyncIterator[AsyncSession]:
        """A transaction seeing only `account_id`'s rows; commits on exit, rolls back on error."""
        account_id = check_account_id(account_id)
        async with self._sessions() as session:
            session.info[_ACCOUNT_KEY] = account_id
            async with session.begin():
                yield session

    @asynccontextmanager
    async def system(self) -> AsyncIterator[AsyncSession]:
        """A transaction with no account: for the `sys_*` functions, then maybe `bind_tenant`."""
        async with self._sessions() as session, session.begin():
            yield session

    async def connect_batch(self) -> BatchConnection:
        """A connection of its own for group-commit transactions (the caller closes it)."""
        return BatchConnection(await asyncpg.connect(self._batch_dsn), self.batch_stats)

    async def connect_plain(self) -> asyncpg.Connection:
        """A plain asyncpg connection of the app role (e.g. to LISTEN; the caller closes it)."""
        return await asyncpg.connect(self._batch_dsn)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.engine.url!r})"  # URL repr masks the password


async def open_database(settings: Settings, box: SecretBox, *, migrate: bool = True) -> Database:
    """Start-up path of the runner and the panel: migrate, ensure the app role, connect as it."""
    if not settings.database_url:
        raise RuntimeError(
            "DATABASE_URL (owner role) is not set and no embedded server was started"
        )
    if migrate:
        await upgrade_to_head(settings.database_url)
    app_url = await ensure_app_role(
        settings.database_url,
        app_url=settings.database_app_url,
        password=box.derive(APP_ROLE_PASSWORD_PURPOSE),
    )
    return Database(app_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
