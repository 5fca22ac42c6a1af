"""The timer scheduler fires due timers in batches; a timer our code fails on is set aside
instead of rolling its batch back for ever (which would stop every timer behind it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import adapters.telegram.scheduler as scheduler_module
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.scheduler import TimerScheduler
from storage.repositories import runs, waiting
from tests.course_workers import shared_course_workers

pytestmark = pytest.mark.integration

# Nobody else's timers are due this early: the scheduler below claims only ours.
LONG_AGO = datetime(1960, 1, 1, tzinfo=UTC)


async def test_a_failing_timer_is_set_aside_and_the_rest_of_its_batch_fires(
    db, seed_account, monkeypatch
):
    good, bad = await seed_account(), await seed_account()
    timers = {}
    for seeded, name in ((good, "good"), (bad, "bad")):
        async with db.tenant(seeded.account_id) as session:
            row = await waiting.add(
                session, seeded.account_id, run_id=seeded.run_id, wait_id=name, due_at=LONG_AGO
            )
            timers[name] = (seeded.account_id, row.id)
    stepped: list[int] = []

    async def apply_event(session, run, course, event, now):  # type: ignore[no-untyped-def]
        if run.id == bad.run_id:
            raise RuntimeError("this run's course cannot take the event")
        stepped.append(run.id)

    monkeypatch.setattr(scheduler_module, "apply_event", apply_event)
    kicked: list[tuple[int, int]] = []
    scheduler = TimerScheduler(
        db,
        CourseCache(shared_course_workers()),
        lambda bot_id, chat_id: kicked.append((bot_id, chat_id)),
        lambda: LONG_AGO + timedelta(minutes=1),
        batch=10,
    )

    assert await scheduler.fire_due() == 2  # both claimed in one batch
    assert await scheduler.fire_due() == 0  # and neither is due any more

    statuses = {}
    for name, (account_id, waiting_id) in timers.items():
        async with db.tenant(account_id) as session:
            statuses[name] = (await waiting.get(session, account_id, waiting_id)).status
    assert statuses == {"good": "fired", "bad": "cancelled"}
    assert set(stepped) == {good.run_id}  # (once in the batch rolled back, once for good)
    async with db.tenant(good.account_id) as session:
        run = await runs.get(session, good.account_id, good.run_id)
    assert kicked == [(run.bot_id, run.chat_id)]
