"""The migration is the only way the schema changes: it must match the models and be reversible."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.migrate import PROJECT_ROOT, downgrade_to_base, upgrade_to_head
from storage.models import TENANT_TABLES, Base

pytestmark = pytest.mark.integration


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

    await downgrade_to_base(empty_database)
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
