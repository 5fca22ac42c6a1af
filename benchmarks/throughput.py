"""End-to-end throughput of the Telegram runtime, against bare aiogram on the same updates.

N bots x M students play the benchmark course (tests/fixtures/courses/words_and_charts.yaml)
through the real runtime: the bot pool, getUpdates polling, the inbox, per-chat workers, the
engine, the outbox and sender, PostgreSQL and Redis. Bot API calls are answered in-process
(benchmarks/stub_api.py), so neither side pays for local HTTP. The baseline, measured in the
same run, is an aiogram `Dispatcher` with `MemoryStorage` whose handlers only reply "ok",
polling the same number of bots through the same stub while the same number of students send
the same kinds of updates.

Students act in closed loop (next update after the reply), so updates/s is what the
process sustains with that many conversations open, and latency is queue time + work.

The runtime tunes Python's garbage collector while it runs (adapters/telegram/collector.py);
bare aiogram runs with the interpreter's defaults, as the goal's baseline is defined. A
third row per size measures the same bare aiogram with the runtime's tuning, so the share
of the ratio that tuning explains is in the table too.
Telegram's per-chat and per-bot pacing is lifted on both sides: this measures the
machine, not Telegram's flood limits (benchmarks/sender.py measures those).

    python -m benchmarks.throughput [--small] [--sizes 100x10,1000x2] [--actions 15]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, Message, PollAnswer
from redis.asyncio import Redis

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.collector import CollectorTuning
from adapters.telegram.keys import AccountBotKeyBuilder
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from benchmarks.engine_steps import DEFAULT_COURSE
from benchmarks.provision import TELEGRAM_ID_BASE, SchoolBot, bot_token, provision_schools
from benchmarks.report import Column, machine_line, percentile, ratio, render_table
from benchmarks.services import BenchDatabase, add_server_arguments, scratch_database, servers
from benchmarks.sql_counter import SqlCounter
from benchmarks.stub_api import StubTelegram
from benchmarks.students import Classroom, Kind, script_kinds
from botapi.bot_factory import SessionPools
from courses.loader import load_course
from process import course_workers
from storage.config import Settings
from storage.db import Database

FULL_SIZES = "100x10,1000x2"
GOAL_RATIO = 0.5  # of the bare-aiogram baseline's updates/s
SMALL_SIZES = "3x2"
FIRST_USER_ID = 20_000_000
# Effectively no pacing: the sender still queues and orders per chat, it just never waits.
UNPACED = RateLimits(bot_per_second=1e6, chat_per_second=1e6, group_per_minute=1e6)


@dataclass(frozen=True)
class Size:
    bots: int
    students: int  # per bot

    @classmethod
    def parse(cls, text: str) -> Size:
        bots, _, students = text.partition("x")
        size = cls(int(bots), int(students or 1))
        if size.bots < 1 or size.students < 1:
            raise ValueError(f"size {text!r}: bots and students must be at least 1")
        return size

    def __str__(self) -> str:
        return f"{self.bots} bots x {self.students}"


@dataclass
class Measurement:
    name: str
    updates: int  # answered student updates
    seconds: float  # first update queued -> last reply sent
    latencies: list[float]
    cpu_seconds: float  # this process (runtime + stub + students), not PostgreSQL
    startup_s: float  # until every bot was polling
    completed: bool
    transactions: int | None = None
    statements: int | None = None
    script_followed: bool | None = None  # runtime students took the scripted path
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else math.nan

    def per_update(self, count: int | None) -> float:
        return count / self.updates if count is not None and self.updates else math.nan


# ---- the runtime -------------------------------------------------------------------------


async def measure_runtime(
    bench: BenchDatabase,
    redis_url: str,
    size: Size,
    *,
    actions: int,
    course_source: str,
    kinds: Sequence[Kind],
    pool_size: int,
    timeout_s: float,
    profile: Path | None = None,
) -> Measurement:
    db = Database(bench.app_url, pool_size=pool_size, max_overflow=pool_size // 2)
    stub = StubTelegram()
    redis = Redis.from_url(redis_url)
    school = await provision_schools(
        db, bench.box, bot_count=size.bots, course_source=course_source
    )
    pools = SessionPools(polling=stub.session(), sending=stub.session())
    workers = course_workers(Settings())
    runtime = TelegramRuntime(
        db,
        bench.box,
        redis,
        RuntimeOptions(poll_timeout_s=10, rate_limits=UNPACED),
        workers=workers,
        session_pools=pools,
    )
    counter = SqlCounter(db)
    classroom = Classroom(stub, mode="course", actions=actions, kinds=kinds)
    users = _enroll(classroom, school, size.students)
    try:
        started = time.perf_counter()
        await workers.start()  # as coursebot up does, before the runtime
        await runtime.start()
        await _until(lambda: stub.calls["getupdates"] >= size.bots, timeout_s)
        startup = time.perf_counter() - started
        result = await _drive(classroom, counter, timeout_s, profile, f"runtime, {size}")
        result.startup_s = startup
        expected = list(kinds[:actions])
        result.script_followed = all(s.sent == expected for s in classroom.students)
        return result
    finally:
        await runtime.stop()
        await workers.close()
        counter.close()
        per_bot = size.students
        await forget_fsm_keys(
            redis,
            (
                (bot, user)
                for i, bot in enumerate(school)
                for user in users[i * per_bot : (i + 1) * per_bot]
            ),
        )
        await redis.aclose()
        await db.dispose()


def _enroll(classroom: Classroom, bots: Sequence[SchoolBot], students: int) -> list[int]:
    users = []
    for index, bot in enumerate(bots):
        for number in range(students):
            user_id = FIRST_USER_ID + index * students + number
            classroom.enroll(bot.telegram_id, user_id, bot.start_payload)
            users.append(user_id)
    return users


async def forget_fsm_keys(redis: Redis, chats: Iterable[tuple[SchoolBot, int]]) -> None:
    """Delete exactly the FSM keys a run wrote for these (bot, user) chats; the Redis server
    may be shared."""
    keys = []
    for bot, user in chats:
        builder = AccountBotKeyBuilder(bot.account_id, bot.bot_id)
        keys.append(builder.build(StorageKey(bot.bot_id, user, user), "state"))
    for start in range(0, len(keys), 1000):
        await redis.delete(*keys[start : start + 1000])


# ---- the baseline ------------------------------------------------------------------------


def baseline_dispatcher() -> Dispatcher:
    """Bare aiogram: MemoryStorage FSM, handlers that only answer."""
    dp = Dispatcher(storage=MemoryStorage())

    @dp.message()
    async def on_message(message: Message, bot: Bot) -> None:
        await bot.send_message(message.chat.id, "ok")

    @dp.callback_query()
    async def on_button(query: CallbackQuery, bot: Bot) -> None:
        await query.answer()
        await bot.send_message(query.from_user.id, "ok")

    @dp.poll_answer()
    async def on_poll_answer(answer: PollAnswer, bot: Bot) -> None:
        if answer.user is not None:
            await bot.send_message(answer.user.id, "ok")

    return dp


async def measure_baseline(
    size: Size, *, actions: int, kinds: Sequence[Kind], timeout_s: float, tuned_gc: bool = False
) -> Measurement:
    """Bare aiogram; `tuned_gc`: with the collector tuned as the runtime tunes it."""
    tuning = CollectorTuning()
    if tuned_gc:
        tuning.apply()
    try:
        return await _measure_bare_aiogram(
            size,
            actions=actions,
            kinds=kinds,
            timeout_s=timeout_s,
            name=f"aiogram{' + GC tuning' if tuned_gc else ''}, {size}",
        )
    finally:
        tuning.restore()


async def _measure_bare_aiogram(
    size: Size, *, actions: int, kinds: Sequence[Kind], timeout_s: float, name: str
) -> Measurement:
    stub = StubTelegram()
    session = stub.session()
    telegram_ids = [TELEGRAM_ID_BASE + i for i in range(size.bots)]
    bots = [Bot(bot_token(telegram_id), session=session) for telegram_id in telegram_ids]
    dp = baseline_dispatcher()
    classroom = Classroom(stub, mode="echo", actions=actions, kinds=kinds)
    for index, telegram_id in enumerate(telegram_ids):
        for number in range(size.students):
            classroom.enroll(telegram_id, FIRST_USER_ID + index * size.students + number, "x")
    started = time.perf_counter()
    polling = asyncio.create_task(
        dp.start_polling(*bots, polling_timeout=10, handle_signals=False, close_bot_session=False)
    )
    try:
        await _until(lambda: stub.calls["getupdates"] >= size.bots, timeout_s)
        startup = time.perf_counter() - started
        result = await _drive(classroom, None, timeout_s, None, name)
        result.startup_s = startup
        return result
    finally:
        await dp.stop_polling()
        await polling


# ---- shared ------------------------------------------------------------------------------


async def _until(condition, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the bots did not all start polling in time")
        await asyncio.sleep(0.05)


async def _drive(
    classroom: Classroom,
    counter: SqlCounter | None,
    timeout_s: float,
    profile: Path | None,
    name: str,
) -> Measurement:
    profiler = _start_profiler() if profile else None
    if counter is not None:
        counter.reset()
    cpu = time.process_time()
    started = time.perf_counter()
    classroom.begin()
    progress = asyncio.create_task(_report_progress(classroom, name))
    completed = True
    try:
        await asyncio.wait_for(classroom.finished.wait(), timeout_s)
    except TimeoutError:
        completed = False
    finally:
        progress.cancel()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if profiler is not None and profile is not None:
        profiler.stop()
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return Measurement(
        name=name,
        updates=len(classroom.latencies),
        seconds=seconds,
        latencies=list(classroom.latencies),
        cpu_seconds=cpu,
        startup_s=math.nan,
        completed=completed,
        transactions=counter.transactions if counter else None,
        statements=counter.statements if counter else None,
    )


async def _report_progress(classroom: Classroom, name: str, every_s: float = 10.0) -> None:
    """A long run shows it is alive (and how fast it goes) on stderr."""
    while True:
        await asyncio.sleep(every_s)
        print(f"  {name}: {len(classroom.latencies):,} updates answered", file=sys.stderr)


def _start_profiler():  # type: ignore[no-untyped-def]
    """pyinstrument, when installed (a development aid, not a dependency)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "--profile needs pyinstrument: .venv/bin/pip install pyinstrument"
        ) from None
    profiler = Profiler(async_mode="disabled")
    profiler.start()
    return profiler


COLUMNS = (
    Column("run", 36),
    Column("updates", 9, ","),
    Column("seconds", 9, ".1f"),
    Column("updates/s", 11, ",.0f"),
    Column("vs baseline", 13),
    Column("p50 ms", 9, ".1f"),
    Column("p99 ms", 9, ".1f"),
    Column("tx/update", 11, ".2f"),
    Column("stmts/upd", 11, ".1f"),
    Column("CPU ms/upd", 12, ".2f"),
    Column("start-up s", 12, ".2f"),
)


@dataclass
class Comparison:
    """One size: the goal's baseline, the same with the runtime's GC tuning, the runtime."""

    baseline: Measurement
    tuned_baseline: Measurement
    runtime: Measurement

    @property
    def measurements(self) -> tuple[Measurement, Measurement, Measurement]:
        return self.baseline, self.tuned_baseline, self.runtime

    def ratio(self, against: Measurement) -> float:
        return self.runtime.rate / against.rate if against.rate else math.nan


def render(comparisons: Sequence[Comparison]) -> str:
    """Three rows per size; ratios against that size's (untuned) baseline."""
    rows = []
    for comparison in comparisons:
        baseline = comparison.baseline
        for m in comparison.measurements:
            rows.append(
                (
                    m.name + ("" if m.completed else " (TIMED OUT)"),
                    m.updates,
                    m.seconds,
                    m.rate,
                    ratio(m.rate, baseline.rate),
                    percentile(m.latencies, 50) * 1000,
                    percentile(m.latencies, 99) * 1000,
                    m.per_update(m.transactions),
                    m.per_update(m.statements),
                    m.cpu_seconds / m.updates * 1000 if m.updates else math.nan,
                    m.startup_s,
                )
            )
    return render_table(COLUMNS, rows)


async def run(args: argparse.Namespace) -> list[Comparison]:
    source = Path(args.course).read_text(encoding="utf-8")
    loaded = load_course(source, source_name=str(args.course))
    if loaded.course is None:
        raise SystemExit(f"{args.course} does not load: {loaded.errors[0]}")
    kinds = script_kinds(loaded.course)
    comparisons = []
    with servers(args.database_url, args.redis_url) as urls:
        for size in args.sizes:
            baseline, tuned = [
                await measure_baseline(
                    size, actions=args.actions, kinds=kinds, timeout_s=args.timeout, tuned_gc=tuned
                )
                for tuned in (False, True)
            ]
            async with AsyncExitStack() as stack:
                bench = await stack.enter_async_context(scratch_database(urls.database_url))
                runtime = await measure_runtime(
                    bench,
                    urls.redis_url,
                    size,
                    actions=args.actions,
                    course_source=source,
                    kinds=kinds,
                    pool_size=args.pool_size,
                    timeout_s=args.timeout,
                    profile=args.profile,
                )
            comparison = Comparison(baseline, tuned, runtime)
            comparisons.append(comparison)
            print(render([comparison]).splitlines()[-1], file=sys.stderr)
    return comparisons


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help=f"sizes {SMALL_SIZES}, 4 actions")
    parser.add_argument("--sizes", help=f"bots x students per bot, default {FULL_SIZES}")
    parser.add_argument("--actions", type=int, help="updates per student (default 15)")
    parser.add_argument("--course", default=str(DEFAULT_COURSE), help="course YAML")
    parser.add_argument("--pool-size", type=int, default=20, help="runtime DB pool size")
    parser.add_argument("--timeout", type=float, help="seconds per measurement (300; 60 small)")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report here")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.sizes = [
            Size.parse(s)
            for s in (args.sizes or (SMALL_SIZES if args.small else FULL_SIZES)).split(",")
        ]
    except ValueError as error:
        parser.error(str(error))
    args.actions = args.actions or (4 if args.small else 15)
    args.timeout = args.timeout or (60.0 if args.small else 300.0)
    if args.actions < 1:
        parser.error("--actions must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    comparisons = asyncio.run(run(args))
    print(f"course {Path(args.course).name}, {args.actions} updates per student; {machine_line()}")
    print(render(comparisons))
    for c in comparisons:
        achieved = c.ratio(c.baseline)
        verdict = "met" if achieved >= GOAL_RATIO else "NOT met"
        print(
            f"{c.runtime.name}: {achieved:.2f}x the baseline, goal >= {GOAL_RATIO}x: {verdict} "
            f"({c.ratio(c.tuned_baseline):.2f}x the baseline with the same GC tuning)"
        )
    completed = all(m.completed for c in comparisons for m in c.measurements)
    return 0 if completed else 1


if __name__ == "__main__":
    sys.exit(main())
