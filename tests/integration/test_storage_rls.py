"""Row-Level Security: the second line of defence between accounts, checked table by table."""

from __future__ import annotations

from collections import Counter

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.config import Settings
from storage.db import APP_ROLE_PASSWORD_PURPOSE, Database, open_database
from storage.models import GLOBAL_TABLES, PLATFORM_TABLES, TENANT_TABLES
from storage.repositories import runs
from storage.roles import AppRoleError, ensure_app_role
from tests.integration import seeding

pytestmark = pytest.mark.integration


def _key(table: str) -> str:
    return "id" if table == "account" else "account_id"


async def _accounts_in(session_or_conn, table: str) -> Counter:
    rows = await session_or_conn.execute(text(f"SELECT {_key(table)} FROM {table}"))
    return Counter(row[0] for row in rows)


async def _owner_counts(owner_engine, account_id: int) -> dict[str, int]:
    async with owner_engine.connect() as conn:
        return {table: (await _accounts_in(conn, table))[account_id] for table in TENANT_TABLES}


async def test_app_role_cannot_bypass_rls(test_database, owner_engine):
    app = Database(test_database.app_url, pool_size=1)
    try:
        async with app.engine.connect() as conn:
            role = (
                await conn.execute(
                    text(
                        "SELECT current_user, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb "
                        "FROM pg_roles WHERE rolname = current_user"
                    )
                )
            ).one()
            owned = await conn.scalar(
                text("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
            )
        async with owner_engine.connect() as conn:
            owner = await conn.scalar(text("SELECT current_user"))
            member_of_owner = await conn.scalar(
                text("SELECT pg_has_role(:app, :owner, 'MEMBER')"),
                {"app": role.current_user, "owner": owner},
            )
    finally:
        await app.dispose()
    assert role.current_user != owner
    assert (role.rolsuper, role.rolbypassrls, role.rolcreaterole, role.rolcreatedb) == (
        False,
        False,
        False,
        False,
    )
    assert owned == 0
    assert member_of_owner is False


async def test_every_table_has_forced_rls_and_a_tenant_policy(owner_engine):
    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "  EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname "
                    "          AND p.policyname = 'tenant_isolation' AND p.roles = '{public}') "
                    "FROM pg_class c "
                    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
                    "  AND c.relname <> 'alembic_version'"
                )
            )
        ).all()
    # No table escaped the lists: a new table is an account's or, on purpose, a person's or
    # the platform's own (runners and their bot leases).
    assert {row[0] for row in rows} == set(TENANT_TABLES) | set(GLOBAL_TABLES) | set(
        PLATFORM_TABLES
    )
    tenant_rows = [row for row in rows if row[0] in TENANT_TABLES]
    assert [row[0] for row in tenant_rows if not (row[1] and row[2] and row[3])] == []


async def test_a_persons_tables_hold_no_account_data_and_are_never_edited(
    test_database, owner_engine
):
    """Panel sessions and used logins belong to a person: no account_id to scope by, so no
    RLS; the app role may read, add and delete their rows, never change one."""
    app_role = make_url(test_database.app_url).username
    async with owner_engine.connect() as conn:
        for table in GLOBAL_TABLES:
            columns = await conn.scalars(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                {"t": table},
            )
            assert "account_id" not in set(columns), table
            granted = {
                privilege: await conn.scalar(
                    text("SELECT has_table_privilege(:role, :table, :privilege)"),
                    {"role": app_role, "table": table, "privilege": privilege},
                )
                for privilege in ("SELECT", "INSERT", "DELETE", "UPDATE", "TRUNCATE")
            }
            assert granted == {
                "SELECT": True,
                "INSERT": True,
                "DELETE": True,
                "UPDATE": False,
                "TRUNCATE": False,
            }, table


async def test_without_an_account_nothing_is_visible(db, seed_account, owner_engine):
    seeded = await seed_account()
    owner_counts = await _owner_counts(owner_engine, seeded.account_id)
    assert [t for t, n in owner_counts.items() if n == 0] == []  # the seed filled every table

    async with db.system() as session:
        visible = {
            table: sum((await _accounts_in(session, table)).values()) for table in TENANT_TABLES
        }
    assert visible == dict.fromkeys(TENANT_TABLES, 0)

    async with db.engine.connect() as conn:  # not even a bare connection outside any session
        assert await conn.scalar(text("SELECT count(*) FROM run")) == 0


async def test_an_account_sees_exactly_its_own_rows(db, seed_account, owner_engine):
    a = await seed_account()
    b = await seed_account()
    for me in (a, b):
        expected = await _owner_counts(owner_engine, me.account_id)
        async with db.tenant(me.account_id) as session:
            seen = {table: await _accounts_in(session, table) for table in TENANT_TABLES}
        assert {t: set(c) for t, c in seen.items()} == {t: {me.account_id} for t in TENANT_TABLES}
        assert {t: c[me.account_id] for t, c in seen.items()} == expected


async def test_an_account_cannot_touch_another_accounts_rows(db, seed_account):
    a = await seed_account()
    b = await seed_account()
    async with db.tenant(a.account_id) as session:
        updated = await session.execute(
            text("UPDATE run SET state = '{\"hacked\": true}' WHERE id = :id"), {"id": b.run_id}
        )
        deleted = await session.execute(
            text("DELETE FROM conversation WHERE account_id = :b"), {"b": b.account_id}
        )
        assert (updated.rowcount, deleted.rowcount) == (0, 0)
        # Even a repository called with the wrong account finds nothing.
        assert await runs.get(session, b.account_id, b.run_id) is None

    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.tenant(a.account_id) as session:
            await session.execute(
                text(
                    "INSERT INTO audit_log (account_id, actor, action, object_type) "
                    "VALUES (:b, 'x', 'forge', 'account')"
                ),
                {"b": b.account_id},
            )

    async with db.tenant(b.account_id) as session:
        run = await runs.get(session, b.account_id, b.run_id)
        assert run is not None and run.state == {}


async def test_rows_cannot_point_at_another_accounts_rows(db, seed_account):
    """Composite (account_id, x_id) foreign keys: RLS alone would not stop this reference."""
    a = await seed_account()
    b = await seed_account()
    with pytest.raises(IntegrityError, match="foreign key"):
        async with db.tenant(a.account_id) as session:
            await seeding.run(
                session,
                a.account_id,
                deployment_id=b.deployment_id,
                course_version_id=a.version_id,
                bot_id=a.bot_id,
                chat_id=42,
                telegram_user_id=42,
            )


async def test_account_setting_does_not_leak_through_pooled_connections(
    test_database, seed_account
):
    a = await seed_account()
    b = await seed_account()
    single = Database(test_database.app_url, pool_size=1, max_overflow=0)
    try:
        async with single.tenant(a.account_id) as session:
            assert set(await _accounts_in(session, "run")) == {a.account_id}
        async with single.system() as session:  # same physical connection, next transaction
            assert sum((await _accounts_in(session, "run")).values()) == 0
        async with single.tenant(b.account_id) as session:
            assert set(await _accounts_in(session, "run")) == {b.account_id}
    finally:
        await single.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE course_version SET checksum = 'changed' WHERE id = :version_id",
        "UPDATE course_element SET data = '{}' WHERE version_id = :version_id",
        "UPDATE audit_log SET action = 'rewritten'",
        "DELETE FROM audit_log",
        "UPDATE alembic_version SET version_num = 'x'",
    ],
)
async def test_app_role_cannot_rewrite_history(db, seed_account, statement):
    seeded = await seed_account()
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.tenant(seeded.account_id) as session:
            await session.execute(text(statement), {"version_id": seeded.version_id})


@pytest.mark.parametrize("bad", [None, 0, -1, "1", "1 OR 1=1", True, 1.0])
async def test_tenant_session_needs_a_real_account_id(db, bad):
    with pytest.raises(ValueError, match="account_id must be a positive integer"):
        async with db.tenant(bad):
            pass


async def test_refuses_an_app_url_that_would_bypass_rls(test_database):
    with pytest.raises(AppRoleError, match="Row-Level Security would not apply"):
        await ensure_app_role(test_database.owner_url, app_url=test_database.owner_url)


async def test_ensure_app_role_is_repeatable(test_database, secret_box):
    again = await ensure_app_role(
        test_database.owner_url, password=secret_box.derive(APP_ROLE_PASSWORD_PURPOSE)
    )
    assert again == test_database.app_url
    second = Database(again, pool_size=1)
    try:
        async with second.system() as session:
            assert isinstance(session, AsyncSession)
            assert await session.scalar(text("SELECT count(*) FROM bot")) == 0
    finally:
        await second.dispose()


async def test_startup_path_migrates_and_connects_as_the_app_role(empty_database, secret_box):
    settings = Settings().replace(database_url=empty_database)
    database = await open_database(settings, secret_box)
    try:
        async with database.system() as session:
            user = await session.scalar(text("SELECT current_user"))
            assert await session.scalar(text("SELECT count(*) FROM account")) == 0
    finally:
        await database.dispose()
    assert user == "coursebot_app"

    explicit = settings.replace(database_app_url=empty_database)  # the owner: must be refused
    with pytest.raises(AppRoleError):
        await open_database(explicit, secret_box, migrate=False)


async def test_a_batch_transaction_sees_and_writes_only_the_accounts_it_names(db, seed_account):
    """The journal's transactions name their accounts (`app.account_ids`): the rows of any
    other account are invisible to them and cannot be written by them."""
    mine, other = await seed_account(), await seed_account()
    connection = await db.connect_batch()
    try:
        await connection.begin([mine.account_id])
        for table in TENANT_TABLES:
            rows = await connection.fetch(f"SELECT DISTINCT {_key(table)} AS a FROM {table}")
            assert {r["a"] for r in rows} == {mine.account_id}, table
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # row-level security
            await connection.execute(
                "INSERT INTO processed_update (account_id, bot_id, update_id, payload) "
                "VALUES ($1, $2, 424242, '{}')",
                other.account_id,
                other.bot_id,
            )
        await connection.rollback()
        with pytest.raises(ValueError):
            await connection.begin(["1) OR (true"])  # type: ignore[list-item]
    finally:
        await connection.close()
