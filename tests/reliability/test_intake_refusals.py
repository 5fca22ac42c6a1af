"""The other side of "unconfirmed until stored": an update PostgreSQL refuses for what it
contains can never be stored, so it must be skipped (and logged) rather than retried
forever, or one hostile message would stall its bot's intake for everyone."""

from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from storage.models import ProcessedUpdate
from tests.reliability.support import (
    Cohort,
    Student,
    create_account,
    deactivate,
    hosted_runtime,
    make_rng,
    provision_course,
)

pytestmark = pytest.mark.integration


async def test_update_postgres_refuses_is_skipped_and_intake_goes_on(
    fake, db, secret_box, service_urls, caplog
):
    rng = make_rng("intake-refusals")
    course = await provision_course(fake, db, secret_box, await create_account(db))
    student = Student(fake, course, 7_900_001, rng)
    # A lone surrogate survives JSON parsing, but PostgreSQL's jsonb refuses it.
    poison = fake.push_text(course.fake_bot, 7_900_002, "broken \ud800 text")
    redis = Redis.from_url(service_urls.redis_url)
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.telegram.bot_runtime"):
            async with hosted_runtime(db, secret_box, redis, fake, [course]):
                cohort = Cohort(fake, [course], [student], rng, timeout_s=60)
                cohort.start()
                await cohort.finish()
    finally:
        await redis.aclose()
        await deactivate(db, [course])

    assert not fake.pending_updates(course.fake_bot), "the refused update was confirmed"
    async with db.tenant(course.account_id) as session:
        stored = set(
            await session.scalars(
                select(ProcessedUpdate.update_id).where(
                    ProcessedUpdate.account_id == course.account_id,
                    ProcessedUpdate.bot_id == course.bot_id,
                )
            )
        )
    assert poison["update_id"] not in stored
    assert {update_id for update_id, _ in student.pushes} <= stored
    assert f"update {poison['update_id']} could not be stored; ignored" in caplog.text
