"""Fixtures of the reliability suite: the integration suite's migrated database (a separate
instance for this folder) reached through a production-sized pool, a fresh fake Bot API per
test, and the scenario size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.db import Database
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import (  # noqa: F401 - fixtures re-used by this folder
    secret_box,
    test_database,
)
from tests.reliability.support import student_count


@pytest.fixture(scope="session")
async def db(test_database) -> AsyncIterator[Database]:  # noqa: F811
    """The app role's handle with the production pool size (10 + 10 overflow): the load
    goes through the same bottleneck as in `coursebot up`, and a 200-student run does not
    take every connection of a PostgreSQL server shared with other test runs."""
    database = Database(test_database.app_url, pool_size=10, max_overflow=10)
    yield database
    await database.dispose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture(scope="session")
def students() -> int:
    """COURSEBOT_RELIABILITY_STUDENTS, default 30 (the issue's full size is 200)."""
    try:
        return student_count()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
