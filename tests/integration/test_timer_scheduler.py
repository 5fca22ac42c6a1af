"""The timer scheduler fires due timers in batches, without touching their runs: each becomes
an event in its run's chat inbox, written in the firing transaction and announced by NOTIFY,
for the journal to apply (DESIGN §5 "One writer"). A timer of a run that ended fires with no
event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from runtime.inbox_listener import CHANNEL
from runtime.scheduler import TimerScheduler
from storage.models import ProcessedUpdate
from storage.repositories import waiting
from tests.integration import seeding

pytestmark = pytest.mark.integration

# Nobody else's timers are due this early: the scheduler below claims only ours.
LONG_AGO = datetime(1960, 1, 1, tzinfo=UTC)


async def test_due_timers_become_events_in_their_chats_inboxes(db, seed_account):
    live, ended = await seed_account(), await seed_account()
    timers = {}
    for seeded, name in ((live, "live"), (ended, "ended")):
        async with db.tenant(seeded.account_id) as session:
            row = await seeding.timer(
                session, seeded.account_id, run_id=seeded.run_id, wait_id=name, due_at=LONG_AGO
            )
            timers[name] = (seeded.account_id, row.id)
    async with db.tenant(ended.account_id) as session:
        await session.execute(
            text(
                "UPDATE run SET status = 'completed', is_active = false, finished_at = now() "
                "WHERE id = :id"
            ),
            {"id": ended.run_id},
        )
    notified: asyncio.Queue[str] = asyncio.Queue()
    listening = await db.connect_plain()
    await listening.add_listener(CHANNEL, lambda *args: notified.put_nowait(args[-1]))
    try:
        scheduler = TimerScheduler(db, lambda: LONG_AGO + timedelta(minutes=1), batch=10)
        assert await scheduler.fire_due() == 2  # both claimed in one batch
        assert await scheduler.fire_due() == 0  # and neither is due any more
        woken = await asyncio.wait_for(notified.get(), 5)
    finally:
        await listening.close()

    statuses = {}
    for name, (account_id, waiting_id) in timers.items():
        async with db.tenant(account_id) as session:
            statuses[name] = (await waiting.get(session, account_id, waiting_id)).status
    assert statuses == {"live": "fired", "ended": "fired"}
    assert woken == f"{live.bot_id}:{live.chat_id}"
    assert notified.empty()
    for seeded, expected in ((live, [{"run_id": live.run_id, "wait_id": "live"}]), (ended, [])):
        async with db.tenant(seeded.account_id) as session:
            events = (
                await session.scalars(
                    select(ProcessedUpdate).where(
                        ProcessedUpdate.account_id == seeded.account_id,
                        ProcessedUpdate.kind == "timer",
                    )
                )
            ).all()
        assert [e.payload for e in events] == expected
        assert all(e.update_id < 0 and e.processed_at is None for e in events)
        assert all((e.bot_id, e.chat_id) == (seeded.bot_id, seeded.chat_id) for e in events)
