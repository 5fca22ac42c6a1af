"""The Bot API answers bursts of 429 (flood control) and 500 while students take a course:
every message still reaches every student exactly once, in order."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.fakes.telegram_api import FakeTelegram
from tests.reliability.support import (
    Cohort,
    audit,
    create_account,
    deactivate,
    enroll,
    hosted_runtime,
    make_rng,
)

pytestmark = pytest.mark.integration

SEND_METHODS = ("sendMessage", "sendMessage", "sendMessage", "sendPoll")


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


async def inject_bursts(
    fake: FakeTelegram, cohort: Cohort, rng: random.Random, injected: Counter[int]
) -> None:
    """A few bursts of errors for the next sends of any bot, at random points of the
    course before its last steps (so those show the runtime recovers, not just survives).
    Each 429 pauses a whole bot for a second, as Telegram's flood control does."""
    bursts = 4 + 2 * len(cohort.courses)
    for point in sorted(rng.uniform(0.05, 0.8) for _ in range(bursts)):
        await cohort.reach(point)
        method = rng.choice(SEND_METHODS)
        if rng.random() < 0.4:
            count = rng.randint(1, 3)
            fake.fail_next(method, 429, retry_after=1, count=count)
            injected[429] += count
        else:
            count = rng.randint(2, 5)
            fake.fail_next(method, 500, count=count)
            injected[500] += count


async def test_429_and_500_bursts_deliver_every_message_exactly_once(
    fake, db, secret_box, redis, students
):
    rng = make_rng("bot-api-faults")
    accounts = [await create_account(db), await create_account(db)]
    cohort = await enroll(fake, db, secret_box, accounts, rng, students=students)
    injected: Counter[int] = Counter()
    try:
        async with hosted_runtime(db, secret_box, redis, fake, cohort.courses):
            cohort.start()
            bursts = asyncio.create_task(inject_bursts(fake, cohort, rng, injected))
            try:
                await cohort.finish()
            finally:
                bursts.cancel()
            problems = await audit(db, cohort, resends_allowed=False)
    finally:
        await deactivate(db, cohort.courses)

    answered = Counter(c.status for c in fake.calls if c.method in SEND_METHODS)
    assert answered[429] > 0 and answered[500] > 0, (answered, injected)
    assert not problems, "\n".join(problems)
