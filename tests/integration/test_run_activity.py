"""The one "stuck" rule against a real database: the account's threshold, timers, finished runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from storage.models import Account, Run
from storage.run_activity import is_stuck
from tests.integration import seeding


async def _stuck_run_ids(db, account_id: int, now: datetime) -> set[int]:
    async with db.tenant(account_id) as session:
        rows = await session.scalars(
            select(Run.id).where(Run.account_id == account_id, is_stuck(now))
        )
        return set(rows)


async def test_a_run_is_stuck_after_the_accounts_threshold_unless_a_timer_or_the_end_holds_it(
    db, seed_account
):
    seeded = await seed_account()
    account_id = seeded.account_id
    now = datetime.now(UTC)
    async with db.tenant(account_id) as session:
        await session.execute(
            update(Account).where(Account.id == account_id).values(stuck_after_minutes=60)
        )
    common = {
        "deployment_id": seeded.deployment_id,
        "course_version_id": seeded.version_id,
        "bot_id": seeded.bot_id,
        "telegram_user_id": seeded.telegram_user_id,
    }
    async with db.tenant(account_id) as session:
        await session.execute(update(Run).where(Run.id == seeded.run_id).values(updated_at=now))
        silent = await seeding.run(session, account_id, chat_id=1, **common)
        recent = await seeding.run(session, account_id, chat_id=2, **common)
        on_a_timer = await seeding.run(session, account_id, chat_id=3, **common)
        finished = await seeding.run(session, account_id, chat_id=4, **common)
        await seeding.timer(
            session, account_id, run_id=on_a_timer.id, wait_id="w", due_at=now + timedelta(hours=1)
        )
        await seeding.finish_run(session, account_id, finished.id, "completed")
        ages = {silent.id: 61, recent.id: 59, on_a_timer.id: 600, finished.id: 600}
        for run_id, minutes in ages.items():
            await session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(updated_at=now - timedelta(minutes=minutes))
            )

    assert await _stuck_run_ids(db, account_id, now) == {silent.id}

    async with db.tenant(account_id) as session:
        await session.execute(
            update(Account).where(Account.id == account_id).values(stuck_after_minutes=30)
        )
    assert await _stuck_run_ids(db, account_id, now) == {silent.id, recent.id}
