"""Stopping a run silences it at once (DESIGN §10): a teacher's stop in the panel, or a ban
that stops the student's runs, drops the run's unsent messages and cancels its timers, even
those the chat's delivery worker had already read into memory. Only the one message already
on its way to Telegram may still arrive.

The runtime, the panel, PostgreSQL and the fake Bot API are all real; the course is our own:
a lecture of many short messages that a student receives in one go, then a pause of a day.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from storage.db import Database
from storage.models import Outbox, OutboxStatus, Run, RunStatus, Waiting, WaitStatus
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import (
    Course,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    latest_run,
    quiet,
    until_hosted,
)
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration

LECTURE_PARTS = 70
LECTURE = "".join(
    f"part_{n:02d}:\n  type: message\n  text: Part {n} of the lecture\n\n"
    for n in range(1, LECTURE_PARTS + 1)
) + (
    "pause:\n  type: delay\n  text: The next lecture comes tomorrow.\n  wait: 1d\n\n"
    "tomorrow:\n  type: message\n  text: Good morning!\n"
)
QUEUED = LECTURE_PARTS + 1  # every part and the pause's own text, in the start's one step
SEEN_BEFORE_STOP = 3
# The panel writes the stop into the chat's inbox and answers; the runtime, woken by the
# NOTIFY, applies it in the chat's order (DESIGN §5 "One writer").
STOP_APPLIED_WITHIN_S = 5.0


@dataclass
class School:
    course: Course
    panel: httpx.AsyncClient
    headers: dict[str, str]
    fake: FakeTelegram
    runtime: TelegramRuntime

    @property
    def base(self) -> str:
        return f"/api/v1/accounts/{self.course.account_id}"


@pytest.fixture
async def school(db, secret_box, service_urls, make_account) -> AsyncIterator[School]:
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake:
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(
                api_base=fake.base_url,
                poll_timeout_s=1,
                # Fast enough to keep the test short, slow enough that the lecture is still
                # being delivered when the stop lands.
                rate_limits=RateLimits(chat_per_second=20.0),
                sweep_interval_s=0.5,
            ),
            workers=shared_course_workers(),
            reconcile_interval_s=0.3,
        )
        await runtime.start()
        try:
            fake_bot = fake.add_bot()
            bot_id = await add_bot(db, secret_box, account_id, fake_bot)
            version_id = await add_course_version(db, account_id, LECTURE, "Lecture")
            deployment_id = await deploy(db, account_id, version_id, bot_id)
            token = await add_token(db, account_id, deployment_id)
            await until_hosted(runtime, bot_id)
            ctx = panel_context(db, secret_box, telegram_api_base=fake.base_url)
            async with panel_client(ctx) as client:
                yield School(
                    Course(account_id, bot_id, fake_bot, deployment_id, token),
                    client,
                    await user_headers(ctx, owner),
                    fake,
                    runtime,
                )
        finally:
            await runtime.stop()
            await redis.aclose()


async def start_lecture(school: School, db: Database, student: int) -> Run:
    """The student opens the link; returns their run once the lecture is arriving."""
    school.fake.push_start(school.course.fake_bot, student, school.course.payload)
    await school.fake.wait_for_sent(student, SEEN_BEFORE_STOP, timeout=15)
    run = await latest_run(db, school.course.account_id, student)
    assert run is not None and run.status == RunStatus.ACTIVE
    return run


async def settled(school: School, db: Database, run: Run) -> list[Outbox]:
    """The run's outbox once nothing of it is pending and the chat's worker has finished."""
    hosted = school.runtime.pool.get(school.course.bot_id)
    assert hosted is not None
    deadline = time.monotonic() + 30
    while True:
        rows = await outbox_of(db, run)
        if not any(r.status == OutboxStatus.PENDING for r in rows) and not (
            hosted.workers.is_running(run.chat_id)
        ):
            break
        assert time.monotonic() < deadline, "the chat's outbox never settled"
        await asyncio.sleep(0.05)
    await quiet(school.fake, run.chat_id)
    return await outbox_of(db, run)


async def outbox_of(db: Database, run: Run) -> list[Outbox]:
    async with db.tenant(run.account_id) as session:
        found = await session.scalars(
            select(Outbox).where(Outbox.account_id == run.account_id, Outbox.run_id == run.id)
        )
        return list(found.all())


async def timers_of(db: Database, run: Run) -> list[str]:
    async with db.tenant(run.account_id) as session:
        found = await session.scalars(
            select(Waiting.status).where(
                Waiting.account_id == run.account_id, Waiting.run_id == run.id
            )
        )
        return list(found.all())


async def stopped_at(school: School, run: Run) -> int:
    """Wait for the runtime to apply the stop the panel accepted (it answers 202 at once);
    how many messages the student had by then."""
    deadline = time.monotonic() + STOP_APPLIED_WITHIN_S
    while True:
        seen = len(school.fake.sent_to(run.chat_id))
        shown = await school.panel.get(f"{school.base}/runs/{run.id}", headers=school.headers)
        if shown.json()["status"] == RunStatus.STOPPED:
            return seen
        assert time.monotonic() < deadline, "the runtime did not apply the stop"
        await asyncio.sleep(0.01)


async def assert_silenced(school: School, db: Database, run: Run, seen_at_stop: int) -> None:
    rows = await settled(school, db, run)
    after_stop = len(school.fake.sent_to(run.chat_id)) - seen_at_stop
    assert after_stop <= 1, f"{after_stop} messages reached the student after the stop"
    assert len(rows) == QUEUED
    sent = [r for r in rows if r.status == OutboxStatus.SENT]
    dropped = [r for r in rows if r.status == OutboxStatus.CANCELLED]
    assert len(sent) + len(dropped) == QUEUED, "every message was sent or dropped"
    # A dropped message that still went out (the one in flight) says when it did, so the
    # rows account for exactly what the student received.
    in_flight = [r for r in dropped if r.sent_at is not None]
    assert len(in_flight) <= 1
    assert len(sent) + len(in_flight) == len(school.fake.sent_to(run.chat_id))
    assert await timers_of(db, run) == [WaitStatus.CANCELLED]


async def test_a_stopped_run_sends_nothing_more(school: School, db: Database) -> None:
    student = random_telegram_id()
    run = await start_lecture(school, db, student)

    stopped = await school.panel.post(f"{school.base}/runs/{run.id}/stop", headers=school.headers)
    assert stopped.status_code == 202, stopped.text
    seen_at_stop = await stopped_at(school, run)

    assert seen_at_stop < QUEUED, "the lecture was over before the stop: nothing to prove"
    await assert_silenced(school, db, run, seen_at_stop)


async def test_a_ban_that_stops_runs_sends_nothing_more(school: School, db: Database) -> None:
    student = random_telegram_id()
    run = await start_lecture(school, db, student)

    banned = await school.panel.post(
        f"{school.base}/bans",
        json={"telegram_user_id": student, "stop_runs": True, "reason": "spam"},
        headers=school.headers,
    )
    assert banned.status_code == 201, banned.text
    assert banned.json()["stopped_runs"] == 1
    seen_at_stop = await stopped_at(school, run)
    assert seen_at_stop < QUEUED, "the lecture was over before the ban: nothing to prove"
    await assert_silenced(school, db, run, seen_at_stop)
