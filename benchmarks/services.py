"""PostgreSQL and Redis for a benchmark run: the machine's servers, or throwaway embedded ones.

Every run gets its own freshly migrated database (dropped afterwards), so benchmarks never
read or disturb anyone's data, and a run's numbers never depend on what an earlier run left.
The app role is a benchmark-only role, so its password (derived from the run's random key)
never changes the role the test suite or a local `coursebot up` logs in with.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.crypto import SecretBox, generate_key
from storage.db import APP_ROLE_PASSWORD_PURPOSE
from storage.migrate import upgrade_to_head
from storage.roles import ensure_app_role

BENCH_APP_ROLE = "coursebot_bench"


@dataclass(frozen=True)
class ServerUrls:
    database_url: str  # a role that may CREATE DATABASE (asyncpg URL)
    redis_url: str


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    owner_url: str  # ran the migrations: bulk inserts and EXPLAIN go through it
    app_url: str  # what the runtime connects with (RLS applies)
    box: SecretBox  # encrypts the bot tokens of this run
    secret_key: str  # the box's key (COURSEBOT_SECRET_KEY of a runner started on this database)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL server (asyncpg URL of a role that may create databases); "
        "default $DATABASE_URL, else an embedded server",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="Redis URL; default $REDIS_URL, else an embedded server",
    )


@contextmanager
def servers(database_url: str | None, redis_url: str | None) -> Iterator[ServerUrls]:
    """The given servers, or embedded ones started for this run only (slower, but it runs
    on a machine that has neither)."""
    if database_url and redis_url:
        yield ServerUrls(database_url, redis_url)
        return
    from storage.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="coursebot-bench-") as tmp:
        embedded = start_embedded(Path(tmp), temporary=True)
        try:
            yield ServerUrls(database_url or embedded.database_url, redis_url or embedded.redis_url)
        finally:
            embedded.stop()


def _with_database(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[BenchDatabase]:
    """A new migrated database with the app role ready; dropped on exit, even on errors."""
    name = f"coursebot_bench_{secrets.token_hex(5)}"
    key = generate_key()
    box = SecretBox.from_key_string(key)
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        owner_url = _with_database(server_url, name)
        await upgrade_to_head(owner_url)
        app_url = await ensure_app_role(
            owner_url, password=box.derive(APP_ROLE_PASSWORD_PURPOSE), role=BENCH_APP_ROLE
        )
        yield BenchDatabase(name, owner_url, app_url, box, key)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
