"""The migration is the only way the schema changes: it must match the models and be reversible."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from alembic import command
from storage.migrate import (
    PROJECT_ROOT,
    alembic_config,
    run_alembic,
    upgrade_to,
    upgrade_to_head,
)
from storage.models import TENANT_TABLES, Base
from tests.integration import test_storage_system

pytestmark = pytest.mark.integration
plain_owner_database = test_storage_system.plain_owner_database  # a fixture, shared


def _diff(connection: Connection) -> list:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, Base.metadata)


async def _schema_summary(owner_url: str) -> dict[str, list]:
    engine = create_async_engine(owner_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            tables = await conn.scalars(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
                )
            )
            table_list = list(tables)
            functions = list(
                await conn.scalars(
                    text(
                        "SELECT proname FROM pg_proc "
                        "WHERE pronamespace = current_schema()::regnamespace ORDER BY 1"
                    )
                )
            )
            policies = list(
                await conn.scalars(
                    text("SELECT tablename || '.' || policyname FROM pg_policies ORDER BY 1")
                )
            )
            diff = await conn.run_sync(_diff) if "account" in table_list else None
    finally:
        await engine.dispose()
    return {"tables": table_list, "functions": functions, "policies": policies, "diff": diff}


async def test_models_and_migration_agree(owner_engine):
    async with owner_engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_downgrade_removes_everything_and_upgrade_restores_it(empty_database):
    await upgrade_to_head(empty_database)
    first = await _schema_summary(empty_database)
    assert set(TENANT_TABLES) <= set(first["tables"])
    assert first["diff"] == []
    assert "sys_claim_due_waitings" in first["functions"]

    await run_alembic(empty_database, lambda config: command.downgrade(config, "base"))
    empty = await _schema_summary(empty_database)
    assert empty["tables"] == ["alembic_version"]
    assert empty["functions"] == []
    assert empty["policies"] == []

    await upgrade_to_head(empty_database)
    assert await _schema_summary(empty_database) == first


async def test_upgrade_is_idempotent(empty_database):
    await upgrade_to_head(empty_database)
    await upgrade_to_head(empty_database)  # a second `coursebot up` finds nothing to do
    assert (await _schema_summary(empty_database))["diff"] == []


def test_alembic_command_line_offline_sql_contains_rls():
    """`alembic upgrade head --sql` (for a DBA to review) renders the whole schema, RLS included."""
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head", "--sql"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": "postgresql+asyncpg://nobody@localhost/none"},
        capture_output=True,
        text=True,
        check=True,
    )
    for table in TENANT_TABLES:
        assert f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY" in result.stdout
    assert "SECURITY DEFINER" in result.stdout


async def test_alembic_command_line_upgrades_a_database(empty_database):
    """The CLI path of env.py (own engine, URL from -x) reaches the same head."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={empty_database}", "upgrade", "head"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    summary = await _schema_summary(empty_database)
    assert summary["diff"] == []
    assert "sys_active_bots" in summary["functions"]


async def test_coursebot_migrate_upgrades_the_configured_database(empty_database):
    """`coursebot migrate` (the console script) against DATABASE_URL reaches the same head,
    and says so."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("coursebot")), "migrate"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": empty_database, "REDIS_URL": "redis://unused"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "database is at the latest migration" in result.stdout
    summary = await _schema_summary(empty_database)
    assert summary["diff"] == []
    assert "sys_active_bots" in summary["functions"]


KEY_MAKERS_REVISION = "0007"  # the migration that records who made each API key


async def test_api_key_makers_are_taken_from_the_audit_log(plain_owner_database):
    """Keys made before makers were recorded: the audit log's `api_key.create` names the
    person (`tg:<id>`) or the key that made it (whose maker is followed); a key it does not
    explain keeps no maker (and is refused). Run by a non-superuser owner, whom FORCE ROW
    LEVEL SECURITY binds too, as on managed PostgreSQL."""
    before = ScriptDirectory.from_config(alembic_config()).get_revision(KEY_MAKERS_REVISION)
    await upgrade_to(plain_owner_database, before.down_revision)
    engine = create_async_engine(plain_owner_database, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            mine = await _old_account(conn, "mine")
            keys = {name: await _old_key(conn, mine, name) for name in ("by tg", "by key", "none")}
            keys["by system"] = await _old_key(conn, mine, "by system")
            await _audit_key(conn, mine, keys["by tg"], "tg:424242")
            await _audit_key(conn, mine, keys["by key"], f"api_key:{keys['by tg']}")
            await _audit_key(conn, mine, keys["by system"], "system")
            other = await _old_account(conn, "other")  # its audit log names `none`'s id
            await _audit_key(conn, other, keys["none"], "tg:999")
        await upgrade_to_head(plain_owner_database)
        async with engine.begin() as conn:
            await _as_account(conn, mine)
            makers = dict((await conn.execute(text("SELECT name, created_by FROM api_key"))).all())
    finally:
        await engine.dispose()
    assert makers == {"by tg": 424242, "by key": 424242, "none": None, "by system": None}


async def _as_account(conn: AsyncConnection, account_id: int) -> None:
    await conn.execute(
        text("SELECT set_config('app.account_id', :a, true)"), {"a": str(account_id)}
    )


async def _old_account(conn: AsyncConnection, slug: str) -> int:
    return await conn.scalar(
        text("INSERT INTO account (slug, name) VALUES (:s, 'Old') RETURNING id"), {"s": slug}
    )


async def _old_key(conn: AsyncConnection, account_id: int, name: str) -> int:
    await _as_account(conn, account_id)
    return await conn.scalar(
        text(
            "INSERT INTO api_key (account_id, name, key_hash, role) "
            "VALUES (:a, :n, md5(:n), 'admin') RETURNING id"
        ),
        {"a": account_id, "n": name},
    )


async def _audit_key(conn: AsyncConnection, account_id: int, key_id: int, actor: str) -> None:
    await _as_account(conn, account_id)
    await conn.execute(
        text(
            "INSERT INTO audit_log (account_id, actor, action, object_type, object_id) "
            "VALUES (:a, :actor, 'api_key.create', 'api_key', :k)"
        ),
        {"a": account_id, "actor": actor, "k": str(key_id)},
    )
