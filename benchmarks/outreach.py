"""Reminder and notification sweeps over a big school: what one look costs with `--runs`
runs in one deployment.

The runs are bulk-inserted by the owner role with generate_series: active ones whose last
step is spread evenly over the last 30 days (most of them long abandoned, as in a real
school), plus finished ones. One reminder rule (after an hour, at most three times, so its
reach is three hours plus a day) and one member opted in to finished / stuck notices. The
benchmark times the sweeps exactly as the runner calls them (`runtime/outreach.py`): the
first look queues the nudges and notices due, the second finds nothing new (the steady
state of a sweep every minute). With the index on a deployment's active runs by their last
step, a look reads only the runs whose silence began within the rule's reach, however many
older ones there are.

    python -m benchmarks.outreach [--runs 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks.provision import provision_schools
from benchmarks.report import machine_line
from benchmarks.services import add_server_arguments, scratch_database, servers
from runtime.outreach import OutreachSweeps
from storage.crypto import SecretBox
from storage.db import Database

COURSE = "intro:\n  type: message\n  text: Hello\n  button: Go\n"

_RUNS = """
INSERT INTO run (account_id, deployment_id, course_version_id, bot_id, chat_id,
                 telegram_user_id, status, is_active, finished_at, state, updated_at, started_at)
SELECT :account, :deployment, :version, :bot, 10000000 + g, 10000000 + g,
       CASE WHEN g % 10 = 0 THEN 'completed' ELSE 'active' END, g % 10 <> 0,
       CASE WHEN g % 10 = 0 THEN now() - (g % 2880) * interval '1 min' END, '{}'::jsonb,
       now() - (g % 43200) * interval '1 min', now() - interval '31 days'
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1_000_000)
    add_server_arguments(parser)
    args = parser.parse_args()
    with servers(args.database_url, args.redis_url) as urls:
        async with scratch_database(urls.database_url) as bench:
            db = Database(bench.app_url)
            try:
                await _measure(db, bench.owner_url, bench.box, args.runs)
            finally:
                await db.dispose()


async def _measure(db: Database, owner_url: str, box: SecretBox, runs: int) -> None:
    [school] = await provision_schools(db, box, bot_count=1, course_source=COURSE)
    owner = create_async_engine(owner_url, poolclass=NullPool)
    started = time.perf_counter()
    async with owner.begin() as conn:
        for first in range(1, runs + 1, 100_000):
            await conn.execute(
                text(_RUNS),
                {
                    "account": school.account_id,
                    "deployment": school.deployment_id,
                    "version": school.version_id,
                    "bot": school.bot_id,
                    "first": first,
                    "last": min(first + 99_999, runs),
                },
            )
        await conn.execute(
            text(
                "INSERT INTO reminder_rule (account_id, deployment_id, after_minutes, max_count, "
                "text) VALUES (:a, :d, 60, 3, 'Still there?')"
            ),
            {"a": school.account_id, "d": school.deployment_id},
        )
        member = await conn.scalar(
            text("SELECT telegram_user_id FROM account_member WHERE account_id = :a"),
            {"a": school.account_id},
        )
        await conn.execute(
            text(
                "INSERT INTO member_notification (account_id, deployment_id, telegram_user_id, "
                "on_finish, on_stuck, created_at) "
                "VALUES (:a, :d, :m, true, true, now() - interval '2 days')"
            ),
            {"a": school.account_id, "d": school.deployment_id, "m": member},
        )
    async with owner.begin() as conn:  # statistics, as autovacuum would gather them
        await conn.execute(text("ANALYZE run"))
    await owner.dispose()
    print(f"# {runs:,} runs inserted in {time.perf_counter() - started:.1f} s")
    print(machine_line())
    clock = lambda: datetime.now(UTC)  # noqa: E731
    sweeps = OutreachSweeps(db, clock, runs_per_rule=1_000_000)
    print("| look | reminders queued | reminder look, ms | notices queued | notice look, ms |")
    print("|---|---|---|---|---|")
    for look in ("first", "second"):
        # Make both due again now (the runner looks about once a minute).
        owner = create_async_engine(owner_url, poolclass=NullPool)
        async with owner.begin() as conn:
            await conn.execute(text("UPDATE reminder_rule SET sweep_at = now() - interval '1s'"))
            await conn.execute(
                text("UPDATE member_notification SET sweep_at = now() - interval '1s'")
            )
        await owner.dispose()
        t0 = time.perf_counter()
        nudges = await sweeps.remind()
        t1 = time.perf_counter()
        notices = await sweeps.notify()
        t2 = time.perf_counter()
        print(
            f"| {look} | {nudges} | {(t1 - t0) * 1000:.0f} | {notices} | {(t2 - t1) * 1000:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
