"""Fixtures of the reliability suite: the integration suite's migrated database (a separate
instance for this folder), a fresh fake Bot API per test, and the scenario size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import (  # noqa: F401 - fixtures re-used by this folder
    db,
    make_account,
    secret_box,
    test_database,
)
from tests.reliability.support import student_count


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
