"""Shared fixtures: real PostgreSQL and Redis for integration tests.

With DATABASE_URL / REDIS_URL set the tests use those servers; otherwise one throwaway
embedded PostgreSQL and Redis are started for the whole session (and deleted after).
Unit tests never touch these fixtures, so they run without any server.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.course_workers import close_shared_course_workers


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str  # owner/admin URL (sqlalchemy asyncpg form)
    redis_url: str


@pytest.fixture(scope="session")
def service_urls() -> Iterator[ServiceUrls]:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        yield ServiceUrls(database_url, redis_url)
        return
    from storage.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="coursebot-test-") as tmp:
        services = start_embedded(Path(tmp), temporary=True)
        try:
            yield ServiceUrls(
                database_url or services.database_url, redis_url or services.redis_url
            )
        finally:
            services.stop()


@pytest.fixture(scope="session", autouse=True)
async def _course_workers_stop() -> AsyncIterator[None]:
    """Stops the shared course worker processes (tests/course_workers.py) after the session,
    if a test started them."""
    yield
    await close_shared_course_workers()


_RUNTIME_TASKS = ("timers", "bot-pool", "inbox-events", "outreach", "broadcasts", "journal-")


@pytest.fixture(autouse=True)
async def _no_runtime_outlives_its_test() -> AsyncIterator[None]:
    """Fails the test that leaves a Telegram runtime running: every test shares one event
    loop, so a forgotten runtime would go on firing timers and sending in later tests'
    database rows and make them fail far from the cause."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    left = sorted(
        task.get_name()
        for task in asyncio.all_tasks() - before
        if not task.done() and task.get_name().startswith(_RUNTIME_TASKS)
    )
    assert not left, f"a runtime is still running after this test: {left}"
