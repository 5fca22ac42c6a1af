"""Memory per hosted idle bot, pool start-up time and the cost of idling, for N bots.

Each size runs in a fresh child process, so one measurement's garbage never lands in the
next one's RSS. The child inserts N active bot rows straight into a scratch database,
starts the real `TelegramRuntime` (pool, per-bot getUpdates loop, sender, workers, sweep)
against the in-process stub Bot API, waits until every bot is polling, lets them idle,
and reports how much its resident set grew per bot. The baseline, measured the same way
in the same run, is bare aiogram: one `Dispatcher` long-polling the same N bots.

Idle CPU and statements per second show what hosting costs when nobody writes: the
reconcile loop re-reads the bot table every second and every bot sweeps its backlog.

    python -m benchmarks.bots_memory [--small] [--sizes 1000,10000] [--idle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.types import Message
from redis.asyncio import Redis

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.response_types import pin_response_types
from adapters.telegram.runtime import TelegramRuntime
from benchmarks.provision import TELEGRAM_ID_BASE, bot_token, insert_idle_bots
from benchmarks.report import Column, machine_line, ratio, render_table
from benchmarks.services import add_server_arguments, scratch_database, servers
from benchmarks.sql_counter import SqlCounter
from benchmarks.stub_api import StubTelegram
from botapi.bot_factory import SessionPools
from process import course_workers
from storage.config import Settings
from storage.db import Database

FULL_SIZES = "1000,10000"
SMALL_SIZES = "50"
GOAL_KB_PER_BOT = 20
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Hosting:
    name: str
    bots: int
    rss_growth_bytes: int
    startup_s: float
    idle_cpu_percent: float  # of one core, while every bot waits in its long poll
    idle_statements_per_s: float | None = None

    @property
    def kb_per_bot(self) -> float:
        return self.rss_growth_bytes / self.bots / 1024


def rss_bytes() -> int:
    """Resident set of this process (Linux /proc), after a full collection."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


async def _until_polling(stub: StubTelegram, bots: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while stub.calls["getupdates"] < bots:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {stub.calls['getupdates']} of {bots} bots are polling")
        await asyncio.sleep(0.05)


async def _idle(seconds: float) -> float:
    """CPU share of one core this process used while doing nothing useful."""
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) / (time.perf_counter() - wall) * 100


async def host_runtime(
    database_url: str, redis_url: str, bots: int, idle_s: float, settle_s: float
) -> Hosting:
    async with scratch_database(database_url) as bench:
        telegram_ids = await insert_idle_bots(bench.owner_url, bench.box, bots)
        stub = StubTelegram()
        for telegram_id in telegram_ids:
            stub.bot(telegram_id)  # the stub's own share stays out of the growth
        db = Database(bench.app_url, pool_size=10, max_overflow=10)
        redis = Redis.from_url(redis_url)
        pools = SessionPools(polling=stub.session(), sending=stub.session())
        workers = course_workers(Settings())
        runtime = TelegramRuntime(
            db,
            bench.box,
            redis,
            RuntimeOptions(poll_timeout_s=25),
            workers=workers,
            session_pools=pools,
        )
        pin_response_types()
        counter = SqlCounter(db)
        before = rss_bytes()
        started = time.perf_counter()
        try:
            await runtime.start()
            await _until_polling(stub, bots, timeout_s=600)
            startup = time.perf_counter() - started
            await asyncio.sleep(settle_s)  # let the start-up sweeps finish
            counter.reset()
            idle_cpu = await _idle(idle_s)
            statements = counter.statements / idle_s
            growth = rss_bytes() - before
        finally:
            await runtime.stop()
            await workers.close()
            counter.close()
            await redis.aclose()
            await db.dispose()
    return Hosting("coursebot runtime", bots, growth, startup, idle_cpu, statements)


async def host_baseline(bots: int, idle_s: float, settle_s: float) -> Hosting:
    stub = StubTelegram()
    telegram_ids = [TELEGRAM_ID_BASE + i for i in range(bots)]
    for telegram_id in telegram_ids:
        stub.bot(telegram_id)
    session = stub.session()
    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> None:
        await message.answer("ok")

    pin_response_types()
    before = rss_bytes()
    started = time.perf_counter()
    aiogram_bots = [Bot(bot_token(t), session=session) for t in telegram_ids]
    polling = asyncio.create_task(
        dp.start_polling(
            *aiogram_bots, polling_timeout=25, handle_signals=False, close_bot_session=False
        )
    )
    try:
        await _until_polling(stub, bots, timeout_s=600)
        startup = time.perf_counter() - started
        await asyncio.sleep(settle_s)
        idle_cpu = await _idle(idle_s)
        growth = rss_bytes() - before
    finally:
        await dp.stop_polling()
        await polling
    return Hosting("aiogram Dispatcher (baseline)", bots, growth, startup, idle_cpu)


# ---- parent: one child process per measurement -------------------------------------------


def _child(kind: str, bots: int, idle_s: float, urls: tuple[str, str]) -> Hosting:
    """Run one measurement in a fresh interpreter and read its JSON line."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.bots_memory",
        "--child",
        kind,
        "--sizes",
        str(bots),
        "--idle",
        str(idle_s),
        "--database-url",
        urls[0],
        "--redis-url",
        urls[1],
    ]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child for {bots} bots failed:\n{done.stderr[-3000:]}")
    return Hosting(**json.loads(done.stdout.strip().splitlines()[-1]))


COLUMNS = (
    Column("hosting", 32),
    Column("bots", 8, ","),
    Column("KB/bot", 9, ".1f"),
    Column("vs baseline", 13),
    Column("start-up s", 12, ".2f"),
    Column("idle CPU %", 12, ".1f"),
    Column("idle SQL/s", 12, ",.0f"),
)


def render(rows: list[Hosting]) -> str:
    table = []
    baseline = math.nan
    for row in rows:
        if row.idle_statements_per_s is None:
            baseline = row.kb_per_bot
        table.append(
            (
                row.name,
                row.bots,
                row.kb_per_bot,
                ratio(row.kb_per_bot, baseline),
                row.startup_s,
                row.idle_cpu_percent,
                row.idle_statements_per_s,
            )
        )
    return render_table(COLUMNS, table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help=f"sizes {SMALL_SIZES}, 2 s idle")
    parser.add_argument("--sizes", help=f"comma-separated bot counts (default {FULL_SIZES})")
    parser.add_argument(
        "--idle", type=float, help="seconds of idling measured (default 30: a poll timeout)"
    )
    parser.add_argument("--child", choices=("runtime", "baseline"), help=argparse.SUPPRESS)
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    try:
        sizes = [
            int(s) for s in (args.sizes or (SMALL_SIZES if args.small else FULL_SIZES)).split(",")
        ]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if any(size < 1 for size in sizes):
        parser.error("bot counts must be at least 1")
    idle_s = args.idle or (2.0 if args.small else 30.0)

    settle_s = min(idle_s / 2, 5.0)
    if args.child == "baseline":
        print(json.dumps(asdict(asyncio.run(host_baseline(sizes[0], idle_s, settle_s)))))
        return 0
    if args.child == "runtime":
        hosting = host_runtime(args.database_url, args.redis_url, sizes[0], idle_s, settle_s)
        print(json.dumps(asdict(asyncio.run(hosting))))
        return 0

    rows = []
    with servers(args.database_url, args.redis_url) as urls:
        for size in sizes:
            for kind in ("baseline", "runtime"):
                rows.append(_child(kind, size, idle_s, (urls.database_url, urls.redis_url)))
                print(render(rows).splitlines()[-1], file=sys.stderr)
    print(
        f"idle bots, {idle_s:g} s idle window after {min(idle_s / 2, 5.0):g} s to settle, "
        f"goal < {GOAL_KB_PER_BOT} KB/bot; {machine_line()}"
    )
    print(render(rows))
    worst = max(r.kb_per_bot for r in rows if r.idle_statements_per_s is not None)
    verdict = "met" if worst < GOAL_KB_PER_BOT else "NOT met"
    print(f"goal < {GOAL_KB_PER_BOT} KB/bot: {verdict} (worst {worst:.1f} KB/bot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
