"""Run Alembic from inside the application (runner `coursebot migrate`, `up`, tests).

Alembic's command API is synchronous; we open an async connection as the owner role and run
the command on its sync facade via `run_sync`, so it works while an event loop is running
(env.py picks the connection up from `config.attributes`). A transaction-scoped advisory lock
serialises runners that start together against the same database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_MIGRATION_LOCK = 0x636F_7572_7365  # "course": any constant shared by every runner


def alembic_config() -> Config:
    """Config of the project's alembic.ini, independent of the current directory."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    return config


async def upgrade_to_head(owner_url: str) -> None:
    await upgrade_to(owner_url, "head")


async def upgrade_to(owner_url: str, revision: str) -> None:
    """Upgrade to one revision: how a test puts rows in place under an older schema."""
    await run_alembic(owner_url, lambda config: command.upgrade(config, revision))


async def run_alembic(owner_url: str, alembic_command: Callable[[Config], None]) -> None:
    """Run one Alembic command as the owner, holding the migration lock."""
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        alembic_command(config)

    engine = create_async_engine(owner_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            await conn.run_sync(run)
    finally:
        await engine.dispose()
