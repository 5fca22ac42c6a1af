"""Durable delays at scale: fire lateness while timers fall due, with a million pending.

Students who finished lesson one wait in a `delay` for lesson two. The benchmark writes
their runs and `waiting` rows straight into a scratch database (the state each run would
have after its delay began), spaced so that `--per-minute` of them fall due every minute,
and lets the real runtime (TimerScheduler, chat workers, sender, stub Bot API) fire them.
For every timer it records
- fire lateness: when the scheduler claimed it (`waiting.fired_at`) minus `due_at`;
- delivery lateness: when lesson two reached the (stub) Bot API minus `due_at`.

The same schedule runs twice in one run: first with nothing else pending (the baseline),
then with `--pending` far-future timers bulk-inserted by the owner role with
generate_series, which is what a big school accumulates. With the partial index on due
pending rows the second run should look like the first; the EXPLAIN of the scheduler's
claim query (the body of `sys_claim_due_waitings`, planned generically as PL/SQL functions
are) shows which index it uses.

    python -m benchmarks.timers [--small] [--pending 1000000] [--per-minute 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from benchmarks.provision import SchoolBot, provision_schools
from benchmarks.report import Column, machine_line, percentile, ratio, render_table
from benchmarks.services import BenchDatabase, add_server_arguments, scratch_database, servers
from benchmarks.stub_api import StubTelegram
from botapi.bot_factory import SessionPools
from courses.loader import load_course
from engine import RunState, step
from engine.events import Start
from engine.model import Course
from process import course_workers
from storage.config import Settings
from storage.db import Database
from storage.models import Run, Waiting

COURSE = """\
intro:
  type: message
  text: Lesson one is done. The next one opens soon.
pause:
  type: delay
  wait: 1d
  goto: after
after:
  type: message
  text: Welcome back! Here is lesson two.
  button: Start
"""
BOTS = 10
FIRST_CHAT = 40_000_000
# The first timer falls due this long after we start writing the schedule (writing 10,000
# runs takes a few seconds: a timer must not be due before its row exists).
LEAD_S = 5.0
LEAD_S_PER_TIMER = 1 / 1000
DRAIN_S = 120.0  # how long past the last due time we wait for stragglers
INDEX = "ix_waiting_due_at_pending"


@dataclass
class Window:
    name: str
    timers: int
    fired: int
    delivered: int
    fire_lateness: list[float]
    delivery_lateness: list[float]
    cpu_seconds: float  # this process while the window ran (runtime + stub), not PostgreSQL

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q) * 1000


def course() -> Course:
    loaded = load_course(COURSE, source_name="timers benchmark")
    assert loaded.course is not None, loaded.errors
    return loaded.course


def waiting_state(course: Course, due_at: datetime) -> tuple[dict[str, object], str, str | None]:
    """The run state right after the delay began, due at `due_at`; its wait id and goto."""
    state, _ = step(course, RunState.new(), Start(None), due_at - timedelta(days=1))
    [wait] = state.waits
    state = replace(state, waits=(replace(wait, due_at=due_at),))
    return state.to_dict(), wait.wait_id, wait.goto


@dataclass(frozen=True)
class Scheduled:
    run_id: int
    account_id: int
    chat_id: int
    due_at: datetime


async def write_schedule(
    owner: AsyncEngine, bots: list[SchoolBot], course: Course, due: list[datetime], first_chat: int
) -> list[Scheduled]:
    """One run waiting in its delay per due time, spread over the bots."""
    runs, waits = [], []
    for index, due_at in enumerate(due):
        bot = bots[index % len(bots)]
        chat = first_chat + index
        state, wait_id, goto = waiting_state(course, due_at)
        runs.append(
            {
                "account_id": bot.account_id,
                "deployment_id": bot.deployment_id,
                "course_version_id": bot.version_id,
                "bot_id": bot.bot_id,
                "chat_id": chat,
                "telegram_user_id": chat,
                "state": state,
            }
        )
        waits.append(
            {"account_id": bot.account_id, "wait_id": wait_id, "due_at": due_at, "goto": goto}
        )
    async with owner.begin() as conn:
        inserted = await conn.execute(
            insert(Run).returning(Run.id, sort_by_parameter_order=True), runs
        )
        ids = list(inserted.scalars())
        await conn.execute(
            insert(Waiting), [w | {"run_id": i} for w, i in zip(waits, ids, strict=True)]
        )
    return [
        Scheduled(i, r["account_id"], r["chat_id"], w["due_at"])
        for i, r, w in zip(ids, runs, waits, strict=True)
    ]


async def add_far_future_timers(
    owner: AsyncEngine, bots: list[SchoolBot], course: Course, count: int
) -> None:
    """`count` pending timers due in a month or later, on one parked run per bot (a run
    nobody talks to, so no step of the measured runs ever touches them)."""
    far = datetime.now(UTC) + timedelta(days=30)
    parked = await write_schedule(owner, bots, course, [far] * len(bots), 1)
    per_run = -(-count // len(parked))
    async with owner.begin() as conn:
        for number, run in enumerate(parked):
            rows = min(per_run, count - number * per_run)
            if rows <= 0:
                break
            await conn.execute(
                text(
                    "INSERT INTO waiting (account_id, run_id, wait_id, due_at) "
                    "SELECT :account, :run, 'far', CAST(:far AS timestamptz) + g * interval '1 s' "
                    "FROM generate_series(1, :rows) AS g"
                ),
                {"account": run.account_id, "run": run.run_id, "far": far, "rows": rows},
            )
        await conn.execute(text("ANALYZE waiting"))


async def claim_plan(owner: AsyncEngine) -> str:
    """EXPLAIN ANALYZE of `sys_claim_due_waitings`'s own query text, planned generically (as
    PostgreSQL plans a SQL function's body), in a transaction that is rolled back."""
    async with owner.connect() as conn:
        body = await conn.scalar(
            text("SELECT prosrc FROM pg_proc WHERE proname = 'sys_claim_due_waitings'")
        )
        query = re.sub(r"\bp_now\b", "$1", body)
        query = re.sub(r"\bp_limit\b", "$2", query).strip().rstrip(";")
        # PREPARE's own $1 must not reach SQLAlchemy's parameter handling: use the driver.
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await driver.execute(f"PREPARE bench_claim(timestamptz, integer) AS {query}")
        plan = await driver.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) EXECUTE bench_claim(now(), 20)"
        )
        await driver.execute("DEALLOCATE bench_claim")
        await conn.rollback()
    return "\n".join(row[0] for row in plan)


async def measure_window(
    bench: BenchDatabase,
    owner: AsyncEngine,
    redis_url: str,
    school: list[SchoolBot],
    *,
    name: str,
    timers: int,
    per_minute: int,
    first_chat: int,
) -> Window:
    stub = StubTelegram()
    delivered: dict[int, datetime] = {}
    stub.on_send.append(lambda _bot, chat, _message: delivered.setdefault(chat, datetime.now(UTC)))
    db = Database(bench.app_url, pool_size=10, max_overflow=10)
    redis = Redis.from_url(redis_url)
    workers = course_workers(Settings())
    runtime = TelegramRuntime(
        db,
        bench.box,
        redis,
        RuntimeOptions(poll_timeout_s=10, rate_limits=RateLimits(bot_per_second=1e6)),
        workers=workers,
        session_pools=SessionPools(polling=stub.session(), sending=stub.session()),
    )
    await runtime.start()
    cpu = 0.0
    try:
        start = datetime.now(UTC) + timedelta(seconds=LEAD_S + timers * LEAD_S_PER_TIMER)
        spacing = timedelta(minutes=1) / per_minute
        due = [start + i * spacing for i in range(timers)]
        scheduled = await write_schedule(owner, school, course(), due, first_chat)
        cpu = time.process_time()  # from here on: the runtime (and the stub) only
        chats = {s.chat_id: s.due_at for s in scheduled}
        deadline = time.monotonic() + (due[-1] - datetime.now(UTC)).total_seconds() + DRAIN_S
        while len(delivered.keys() & chats.keys()) < timers and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            _progress(name, len(delivered.keys() & chats.keys()), timers)
    finally:
        cpu = time.process_time() - cpu
        await runtime.stop()
        await workers.close()
        await redis.aclose()
        await db.dispose()
    async with owner.connect() as conn:
        fired = (
            await conn.execute(
                text(
                    "SELECT extract(epoch FROM w.fired_at - w.due_at) FROM waiting w "
                    "JOIN run r ON r.id = w.run_id "
                    "WHERE w.status = 'fired' AND r.chat_id BETWEEN :first AND :last"
                ),
                {"first": first_chat, "last": first_chat + timers - 1},
            )
        ).scalars()
        fire_lateness = [float(value) for value in fired]
    delivery = [(delivered[c] - d).total_seconds() for c, d in chats.items() if c in delivered]
    return Window(name, timers, len(fire_lateness), len(delivery), fire_lateness, delivery, cpu)


_last_progress = [0.0]


def _progress(name: str, done: int, total: int) -> None:
    if time.monotonic() - _last_progress[0] >= 10:
        _last_progress[0] = time.monotonic()
        print(f"  {name}: {done:,}/{total:,} delivered", file=sys.stderr)


async def run(args: argparse.Namespace) -> tuple[list[Window], str, str]:
    timers = int(args.per_minute * args.minutes)
    with servers(args.database_url, args.redis_url) as urls:
        async with scratch_database(urls.database_url) as bench:
            owner = create_async_engine(bench.owner_url, poolclass=NullPool)
            try:
                app = Database(bench.app_url)
                try:
                    school = await provision_schools(
                        app, bench.box, bot_count=BOTS, course_source=COURSE, bots_per_account=2
                    )
                finally:
                    await app.dispose()
                windows = [
                    await measure_window(
                        bench,
                        owner,
                        urls.redis_url,
                        school,
                        name="nothing else pending (baseline)",
                        timers=timers,
                        per_minute=args.per_minute,
                        first_chat=FIRST_CHAT,
                    )
                ]
                print(f"  inserting {args.pending:,} pending timers...", file=sys.stderr)
                started = time.perf_counter()
                await add_far_future_timers(owner, school, course(), args.pending)
                print(f"  ...in {time.perf_counter() - started:.1f} s", file=sys.stderr)
                plan = await claim_plan(owner)
                windows.append(
                    await measure_window(
                        bench,
                        owner,
                        urls.redis_url,
                        school,
                        name=f"{args.pending:,} pending",
                        timers=timers,
                        per_minute=args.per_minute,
                        first_chat=FIRST_CHAT + timers,
                    )
                )
                async with owner.connect() as conn:
                    pending = await conn.scalar(
                        text("SELECT count(*) FROM waiting WHERE status = 'pending'")
                    )
            finally:
                await owner.dispose()
    return windows, plan, f"{pending:,} timers still pending at the end"


COLUMNS = (
    Column("timers falling due", 34),
    Column("timers", 8, ","),
    Column("fired", 8, ","),
    Column("sent", 8, ","),
    Column("fire p50 ms", 13, ".0f"),
    Column("fire p99 ms", 13, ".0f"),
    Column("p99 vs base", 13),
    Column("sent p50 ms", 13, ".0f"),
    Column("sent p99 ms", 13, ".0f"),
    Column("CPU ms/timer", 14, ".2f"),
)


def render(windows: list[Window]) -> str:
    base = windows[0].p(windows[0].fire_lateness, 99)
    return render_table(
        COLUMNS,
        [
            (
                w.name,
                w.timers,
                w.fired,
                w.delivered,
                w.p(w.fire_lateness, 50),
                w.p(w.fire_lateness, 99),
                ratio(w.p(w.fire_lateness, 99), base),
                w.p(w.delivery_lateness, 50),
                w.p(w.delivery_lateness, 99),
                w.cpu_seconds / w.fired * 1000 if w.fired else None,
            )
            for w in windows
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10,000 pending, 600/min, 0.5 min")
    parser.add_argument("--pending", type=int, help="far-future timers (default 1,000,000)")
    parser.add_argument("--per-minute", type=int, help="timers due per minute (default 10,000)")
    parser.add_argument("--minutes", type=float, help="minutes of timers falling due (default 1)")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    args.pending = args.pending if args.pending is not None else (10_000 if args.small else 10**6)
    args.per_minute = args.per_minute or (600 if args.small else 10_000)
    args.minutes = args.minutes or (0.5 if args.small else 1.0)
    if args.pending < 0 or args.per_minute < 1 or args.per_minute * args.minutes < 1:
        parser.error("--pending must be >= 0 and at least one timer must fall due")
    windows, plan, tail = asyncio.run(run(args))
    print(
        f"{args.per_minute:,} timers due per minute for {args.minutes:g} min over {BOTS} bots; "
        f"{machine_line()}"
    )
    print(render(windows))
    worst = windows[-1].p(windows[-1].fire_lateness, 99)
    complete = all(w.fired == w.timers for w in windows)
    print(
        f"goal fire p99 <= 1000 ms with {args.pending:,} pending: "
        f"{'met' if worst <= 1000 and complete else 'NOT met'} ({worst:.0f} ms); {tail}"
    )
    uses = "yes" if INDEX in plan else "NO"
    print(f"\nclaim query plan (sys_claim_due_waitings body), uses {INDEX}: {uses}\n{plan}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
