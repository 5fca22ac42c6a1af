"""Scale-out: 1, 2 (and 4 where the machine has the cores) `coursebot runner` processes on
the throughput benchmark's workload, and how long a takeover takes.

The workload is `benchmarks.throughput`'s: N bots x M students play the benchmark course in
closed loop (the next update after the bot's answer). Here every runner is a real
`python -m runner runner` process (as `coursebot runner`) against one PostgreSQL and one
Redis, sharing the bots through their leases, and the Bot API is the benchmarks' stub served
over HTTP by one process of its own (benchmarks/stub_server.py), with the students beside
it. Each configuration gets a fresh scratch database and a fresh stub, so all play the same
workload from the same state; the single runner is the baseline of the same run.

Per configuration: updates/s, latency, and the CPU per update of each runner (utime + stime
from /proc/<pid>/stat of the runner and its course worker, over the measured window only),
their total, the stub's and PostgreSQL's (its server processes, when it runs on this
machine); the app role's PostgreSQL connections (pg_stat_activity, sampled every 0.5 s),
transactions/s, lease row writes/s and journal batches/s (each batch runs the lease fence).

With two runners or more, two takeovers follow the measured window: one runner is killed
with SIGKILL, then (after a replacement joined) another is stopped with SIGTERM. For each:
the seconds until every bot it held is leased by another runner, and until every such bot
answered a new student's /start from another runner (the stub knows which runner sent each
message). A killed runner's bots wait for the lease to expire: the TTL is set explicitly
(`--lease-ttl`, default 10 s, the production default) and printed.

Telegram's per-chat pacing is lifted (COURSEBOT_CHAT_RATE); the per-bot 30 messages/s is
the runner's own and stays, so the default size has bots enough that it never binds
(100 bots x 30/s is 3,000 messages/s, well above what this machine sustains).

    python -m benchmarks.scaleout [--size 100x10] [--actions 15] [--runners 1,2]
        [--lease-ttl 10] [--lease-renew 1] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks.engine_steps import DEFAULT_COURSE
from benchmarks.provision import SchoolBot, provision_schools
from benchmarks.report import Column, machine_line, percentile, ratio, render_table
from benchmarks.services import (
    BENCH_APP_ROLE,
    BenchDatabase,
    add_server_arguments,
    scratch_database,
    servers,
)
from benchmarks.students import Kind, script_kinds
from benchmarks.throughput import FIRST_USER_ID, Size, forget_fsm_keys
from courses.loader import load_course
from storage.db import Database

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZE = "100x10"  # the first size of benchmarks.throughput
DEFAULT_ACTIONS = 15
GOAL_RATIO = 1.3  # 2 runners over 1, on a 2-core machine that also hosts PostgreSQL
START_TIMEOUT_S = 150.0  # several processes starting at once on a loaded 2-core machine
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- processes -----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its live descendants (a runner's course worker), seconds;
    0 for a process that is gone."""
    total = 0.0
    for each in [pid, *_descendants(pid)]:
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _descendants(pid: int) -> list[int]:
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids = [int(k) for k in children.read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_descendants(kid)]
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat): on a shared
    machine, the share others took in a window is what tells a slow row from slow code."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class Process:
    """A child process that prints a line when it is ready; its output is kept (the tail is
    what a failure shows) and drained so it never blocks on a full pipe."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], ready: str) -> None:
        self._argv = list(argv)
        self._env = env
        self._ready = ready.encode()
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> str:
        """Start and wait for the ready line; returns it."""
        self.process = await asyncio.create_subprocess_exec(
            *self._argv,
            cwd=REPO,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT_S)
            if not line:
                tail = "".join(self.output[-30:])
                raise RuntimeError(f"{' '.join(self._argv[1:])} exited during start-up:\n{tail}")
            self.output.append(line.decode(errors="replace"))
            if self._ready in line:
                self._drain = asyncio.create_task(self._keep_reading(self.process))
                return line.decode()
        raise TimeoutError(f"{' '.join(self._argv[1:])} did not come up")

    async def _keep_reading(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self.output = [*self.output[-200:], line.decode(errors="replace")]

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 30) -> int | None:
        assert self.process is not None
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._drain is not None:
            await self._drain
        return self.process.returncode

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.signal(signal.SIGTERM)
            await self.wait()


@dataclass
class Runner:
    """One `coursebot runner`: its tag is the path prefix of its Bot API base."""

    tag: str
    port: int
    process: Process


def runner_env(
    bench: BenchDatabase, redis_url: str, api_base: str, data_dir: Path, args: argparse.Namespace
) -> dict[str, str]:
    """What every runner of a configuration reads; the app role is the benchmark's own, so a
    shared server's `coursebot_app` password is never touched."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEBOT_")}
    env.update(
        DATABASE_URL=bench.owner_url,
        DATABASE_APP_URL=bench.app_url,
        REDIS_URL=redis_url,
        TELEGRAM_API_BASE=api_base,
        COURSEBOT_SECRET_KEY=bench.secret_key,
        COURSEBOT_DATA_DIR=str(data_dir),
        COURSEBOT_POLL_TIMEOUT="10",
        COURSEBOT_CHAT_RATE="1000000",
        COURSEBOT_CHAT_BURST="1000",
        COURSEBOT_LOG_LEVEL="WARNING",
        COURSEBOT_COURSE_WORKERS="1",
        COURSEBOT_LEASE_TTL=f"{args.lease_ttl:g}",
        COURSEBOT_LEASE_RENEW=f"{args.lease_renew:g}",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the stub's controls ---------------------------------------------------------------


class Stub:
    """The stub Bot API process and its `/control` endpoints."""

    def __init__(self) -> None:
        self.process = Process(
            [sys.executable, "-m", "benchmarks.stub_server"],
            dict(os.environ),
            "stub Bot API on",
        )
        self.base = ""
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        line = await self.process.start()
        self.base = f"http://127.0.0.1:{int(line.rsplit(' ', 1)[1])}"
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        assert self._http is not None
        async with self._http.request(method, f"{self.base}/control/{path}", json=body) as r:
            r.raise_for_status()
            return await r.json()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self.process.stop()


# ---- PostgreSQL, seen from outside -----------------------------------------------------


# The app role's connections, and what its busy ones wait for (a Lock: a row or a
# transaction another one holds, with the waiting statement's start; LWLock, IO, ...: the
# server's own work).
_APP_CONNECTIONS = text("""
SELECT count(*),
       coalesce(array_agg(
           wait_event_type || ':' || wait_event
           || CASE WHEN wait_event_type = 'Lock'
              THEN ' (' || left(regexp_replace(btrim(query), '[[:space:]]+', ' ', 'g'), 40) || ')'
              ELSE '' END
       ) FILTER (WHERE state = 'active' AND wait_event IS NOT NULL), '{}')
FROM pg_stat_activity WHERE datname = :db AND usename = :role
""")
_COUNTERS = text("""
SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :db),
       (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables
        WHERE relname IN ('bot_lease', 'runner'))
""")
_LEASES = text("SELECT bot_id, holder FROM bot_lease WHERE expires_at > now()")


class Observer:
    """The owner's view of the scratch database: leases, connections, counters, and the CPU
    of PostgreSQL's processes when the server runs on this machine."""

    def __init__(self, bench: BenchDatabase) -> None:
        self._bench = bench
        self.engine: AsyncEngine = create_async_engine(bench.owner_url, poolclass=NullPool)
        self.max_connections = 0
        self.samples = 0
        self.waits: Counter[str] = Counter()  # wait events of active app connections
        self._postmaster: int | None = None

    async def leases(self) -> dict[int, int]:
        """bot id -> pid of the runner holding its live lease (holder is host:pid:random)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(_LEASES)
            return {bot_id: int(holder.split(":")[-2]) for bot_id, holder in rows}

    async def counters(self) -> tuple[int, int]:
        """(transactions, lease and runner row writes) so far; PostgreSQL's cumulative
        statistics trail by up to a second, a small error over a measured window."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = (await conn.execute(_COUNTERS, {"db": self._bench.name})).one()
            if self._postmaster is None:
                backend = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
                self._postmaster = _parent(backend)
            return int(row[0]), int(row[1])

    def postgres_cpu(self) -> float:
        """CPU seconds of the local PostgreSQL server's live processes (NaN: not local)."""
        if self._postmaster is None:
            return math.nan
        return cpu_seconds(self._postmaster)

    async def sample_connections(self) -> None:
        """The app role's connections to this database every 0.25 s: the largest count, and
        what the active ones waited for."""
        async with self.engine.connect() as conn:
            while True:
                await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
                count, waits = (
                    await conn.execute(
                        _APP_CONNECTIONS, {"db": self._bench.name, "role": BENCH_APP_ROLE}
                    )
                ).one()
                self.max_connections = max(self.max_connections, int(count or 0))
                self.samples += 1
                self.waits.update(waits)
                await asyncio.sleep(0.25)

    async def close(self) -> None:
        await self.engine.dispose()


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.05
) -> float:
    """Seconds until `condition` held."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def journal_batches(http: aiohttp.ClientSession, port: int) -> float:
    """Group-commit transactions this runner ran so far (each one runs the lease fence)."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        body = await response.text()
    match = re.search(r"^coursebot_journal_batch_items_count (\S+)$", body, re.M)
    return float(match.group(1)) if match else math.nan


# ---- one configuration -------------------------------------------------------------------


@dataclass
class Takeover:
    event: str  # "kill -9" or "SIGTERM"
    bots: int
    leases_moved_s: float
    answering_s: float  # every bot answered a new student from another runner
    exit_s: float  # until the stopped process was gone


@dataclass
class Configuration:
    runners: int
    round: int = 1  # with --rounds, each round measures every runner count once
    updates: int = 0
    seconds: float = math.nan
    latencies: list[float] = field(default_factory=list)
    completed: bool = False
    script_followed: bool = False
    runner_cpu_s: list[float] = field(default_factory=list)
    stub_cpu_s: float = math.nan
    postgres_cpu_s: float = math.nan
    max_connections: int = 0
    lock_waits: float = math.nan  # active app connections waiting on a Lock, mean per sample
    waits: list[tuple[str, int]] = field(default_factory=list)  # the commonest wait events
    machine_busy: float = math.nan  # share of the machine's CPU busy in the window
    ours: float = math.nan  # share of it used by the runners, the stub and PostgreSQL
    transactions: int = 0
    lease_writes: int = 0
    batches: float = math.nan
    bots_per_runner: list[int] = field(default_factory=list)
    sends_by_runner: dict[str, int] = field(default_factory=dict)  # messages, by runner tag
    start_s: float = math.nan  # until every runner was up and the bots spread
    takeovers: list[Takeover] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else math.nan

    def per_update_ms(self, seconds: float) -> float:
        return seconds / self.updates * 1000 if self.updates else math.nan

    def per_second(self, count: float) -> float:
        return count / self.seconds if self.seconds > 0 else math.nan


async def measure(
    redis_url: str,
    bench: BenchDatabase,
    runner_count: int,
    args: argparse.Namespace,
    kinds: Sequence[Kind],
    source: str,
) -> Configuration:
    result = Configuration(runner_count)
    students: list[tuple[SchoolBot, int]] = []
    observer = Observer(bench)
    stub = Stub()
    runners: list[Runner] = []
    sampler: asyncio.Task[None] | None = None
    starting: asyncio.Task[None] | None = None
    probed: list[tuple[SchoolBot, int]] = []
    async with AsyncExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scaleout-")))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        try:
            starting = asyncio.create_task(stub.start())  # its imports overlap the provisioning
            db = Database(bench.app_url, pool_size=2, max_overflow=0)
            try:
                school = await provision_schools(
                    db, bench.box, bot_count=args.size.bots, course_source=source
                )
            finally:
                await db.dispose()
            await starting
            students = [
                (bot, FIRST_USER_ID + index * args.size.students + number)
                for index, bot in enumerate(school)
                for number in range(args.size.students)
            ]
            await stub.call(
                "POST",
                "enroll",
                {
                    "students": [[b.telegram_id, u, b.start_payload] for b, u in students],
                    "actions": args.actions,
                    "kinds": list(kinds),
                },
            )

            def new_runner(number: int) -> Runner:
                tag, port = f"r{number}", free_port()
                env = runner_env(bench, redis_url, f"{stub.base}/{tag}", data_dir, args)
                env.update(COURSEBOT_PORT=str(free_port()), COURSEBOT_RUNNER_PORT=str(port))
                process = Process([sys.executable, "-m", "runner", "runner"], env, " is up in ")
                return Runner(tag, port, process)

            started = time.monotonic()
            runners = [new_runner(i + 1) for i in range(runner_count)]
            await asyncio.gather(*(r.process.start() for r in runners))
            bot_ids = [b.bot_id for b in school]
            await wait_spread(observer, bot_ids, runners, args.timeout)

            async def all_polled() -> bool:
                return (await stub.call("GET", "status"))["polled_bots"] >= len(school)

            await wait_for(all_polled, args.timeout, "every bot polled")
            result.start_s = time.monotonic() - started

            sampler = asyncio.create_task(observer.sample_connections())
            transactions, lease_writes = await observer.counters()
            batches = [await journal_batches(http, r.port) for r in runners]
            cpu = [cpu_seconds(r.process.pid) for r in runners]
            stub_cpu, pg_cpu = cpu_seconds(stub.process.pid), observer.postgres_cpu()
            busy, total = machine_cpu()
            await stub.call("POST", "begin")

            async def finished() -> bool:
                return bool((await stub.call("GET", "status"))["finished"])

            try:
                await wait_for(finished, args.timeout, "all students finished", every=0.2)
                result.completed = True
            except TimeoutError:
                result.completed = False
            result.runner_cpu_s = [
                cpu_seconds(r.process.pid) - before for r, before in zip(runners, cpu, strict=True)
            ]
            result.stub_cpu_s = cpu_seconds(stub.process.pid) - stub_cpu
            result.postgres_cpu_s = observer.postgres_cpu() - pg_cpu
            busy_now, total_now = machine_cpu()
            result.machine_busy = (busy_now - busy) / (total_now - total)
            used = sum(result.runner_cpu_s) + result.stub_cpu_s
            used += 0.0 if math.isnan(result.postgres_cpu_s) else result.postgres_cpu_s
            result.ours = used / (total_now - total)
            result.batches = sum(
                [
                    await journal_batches(http, r.port) - b
                    for r, b in zip(runners, batches, strict=True)
                ]
            )
            played = await stub.call("GET", "result")
            result.sends_by_runner = (await stub.call("GET", "status"))["sends_by_runner"]
            now_tx, now_writes = await observer.counters()
            sampler.cancel()
            result.transactions, result.lease_writes = (
                now_tx - transactions,
                now_writes - lease_writes,
            )
            result.max_connections = observer.max_connections
            lock_waits = sum(n for w, n in observer.waits.items() if w.startswith("Lock:"))
            result.lock_waits = lock_waits / max(observer.samples, 1)
            result.waits = observer.waits.most_common(5)
            result.updates = len(played["latencies"])
            result.latencies = played["latencies"]
            result.seconds = played["seconds"]
            result.script_followed = played["script_followed"]
            holders = await observer.leases()
            result.bots_per_runner = [
                sum(1 for pid in holders.values() if pid == r.process.pid) for r in runners
            ]

            if runner_count >= 2:
                by_bot = {b.bot_id: b for b in school}
                result.takeovers.append(
                    await takeover(observer, stub, runners[0], by_bot, signal.SIGKILL, args, probed)
                )
                runners.append(new_runner(runner_count + 1))
                await runners[-1].process.start()
                live = [r for r in runners if r is not runners[0]]
                await wait_spread(observer, bot_ids, live, args.timeout)
                result.takeovers.append(
                    await takeover(observer, stub, runners[1], by_bot, signal.SIGTERM, args, probed)
                )
        finally:
            if sampler is not None:
                sampler.cancel()
            if starting is not None:  # a stub still starting when something failed
                await asyncio.gather(starting, return_exceptions=True)
            await asyncio.gather(*(r.process.stop() for r in runners))
            await stub.close()
            await observer.close()
            redis = Redis.from_url(redis_url)
            await forget_fsm_keys(redis, [*students, *probed])
            await redis.aclose()
    return result


async def wait_spread(
    observer: Observer, bot_ids: Sequence[int], runners: Sequence[Runner], timeout: float
) -> None:
    """Until every bot is leased by one of `runners`, each holding its even share."""
    pids = {r.process.pid for r in runners}
    floor, ceil = len(bot_ids) // len(runners), -(-len(bot_ids) // len(runners))

    async def spread() -> bool:
        holders = await observer.leases()
        counts = [sum(1 for b in bot_ids if holders.get(b) == pid) for pid in pids]
        return sum(counts) == len(bot_ids) and all(floor <= n <= ceil for n in counts)

    await wait_for(spread, timeout, "the bots spread over the runners", every=0.1)


async def takeover(
    observer: Observer,
    stub: Stub,
    victim: Runner,
    by_bot: dict[int, SchoolBot],
    signum: int,
    args: argparse.Namespace,
    probed: list[tuple[SchoolBot, int]],
) -> Takeover:
    """Stop `victim` with `signum`; time until its bots are leased elsewhere and until each
    answers a new student's /start from another runner."""
    pid = victim.process.pid
    held = sorted(b for b, holder in (await observer.leases()).items() if holder == pid)
    telegram_ids = [by_bot[b].telegram_id for b in held]
    by_telegram_id = {b.telegram_id: b for b in by_bot.values()}
    signalled = time.monotonic()
    victim.process.signal(signum)

    async def moved() -> bool:
        holders = await observer.leases()
        return all(holders.get(b) not in (None, pid) for b in held)

    async def exited() -> float:
        await victim.process.wait()
        return time.monotonic() - signalled

    async def answering() -> float:
        body = {"bots": telegram_ids, "victim": victim.tag, "timeout": args.timeout}
        answer = await stub.call("POST", "probe", body)
        probed.extend((by_telegram_id[b], user) for b, user in answer["users"])
        if any(s is None for s in answer["seconds"]):
            return math.nan
        return time.monotonic() - signalled

    lease_s, answer_s, exit_s = await asyncio.gather(
        wait_for(moved, args.timeout, "the bots leased by another runner", every=0.02),
        answering(),
        exited(),
    )
    name = "kill -9" if signum == signal.SIGKILL else "SIGTERM"
    return Takeover(name, len(held), lease_s, answer_s, exit_s)


# ---- the report ----------------------------------------------------------------------------


COLUMNS = (
    Column("runners", 12),
    Column("updates", 9, ","),
    Column("seconds", 9, ".1f"),
    Column("updates/s", 11, ",.0f"),
    Column("vs 1 runner", 13),
    Column("p50 ms", 9, ".0f"),
    Column("p99 ms", 9, ".0f"),
    Column("CPU ms/upd per runner", 23),
    Column("runners CPU ms/upd", 20, ".2f"),
    Column("stub ms/upd", 13, ".2f"),
    Column("PG ms/upd", 11, ".2f"),
    Column("PG conns", 10, ","),
    Column("tx/s", 8, ",.0f"),
    Column("lease writes/s", 16, ".1f"),
    Column("batches/s", 11, ",.0f"),
    Column("bots held", 12),
    Column("lock waits", 12, ".2f"),
    Column("machine busy", 14, ".0%"),
    Column("ours", 7, ".0%"),
    Column("start-up s", 12, ".1f"),
)
TAKEOVER_COLUMNS = (
    Column("runners", 12),
    Column("stopped by", 12),
    Column("its bots", 10),
    Column("lease TTL s", 13, "g"),
    Column("leases moved s", 16, ".2f"),
    Column("all answering s", 17, ".2f"),
    Column("exited s", 10, ".2f"),
)


def baseline(c: Configuration, configurations: Sequence[Configuration]) -> Configuration:
    """The single runner of the same round: others' load on a shared machine drifts, so a
    ratio compares neighbours in time."""
    return next(b for b in configurations if b.round == c.round and b.runners == 1)


def name(c: Configuration, configurations: Sequence[Configuration]) -> str:
    rounds = max(each.round for each in configurations)
    return f"{c.runners}" + (f", round {c.round}" if rounds > 1 else "")


def render(configurations: Sequence[Configuration]) -> str:
    rows = []
    for c in configurations:
        one = baseline(c, configurations)
        title = name(c, configurations) + ("" if c.completed else " (TIMED OUT)")
        rows.append(
            (
                title,
                c.updates,
                c.seconds,
                c.rate,
                ratio(c.rate, one.rate),
                percentile(c.latencies, 50) * 1000,
                percentile(c.latencies, 99) * 1000,
                " / ".join(f"{c.per_update_ms(s):.2f}" for s in c.runner_cpu_s),
                c.per_update_ms(sum(c.runner_cpu_s)),
                c.per_update_ms(c.stub_cpu_s),
                c.per_update_ms(c.postgres_cpu_s),
                c.max_connections,
                c.per_second(c.transactions),
                c.per_second(c.lease_writes),
                c.per_second(c.batches),
                " / ".join(map(str, c.bots_per_runner)),
                c.lock_waits,
                c.machine_busy,
                c.ours,
                c.start_s,
            )
        )
    return render_table(COLUMNS, rows)


def render_takeovers(configurations: Sequence[Configuration], lease_ttl: float) -> str:
    rows = [
        (
            name(c, configurations),
            t.event,
            t.bots,
            lease_ttl,
            t.leases_moved_s,
            t.answering_s,
            t.exit_s,
        )
        for c in configurations
        for t in c.takeovers
    ]
    return render_table(TAKEOVER_COLUMNS, rows)


def summary(configurations: Sequence[Configuration]) -> list[str]:
    """The goal's line: the ratio next to the machine's cores, and CPU per update."""
    lines = [
        f"runners {name(c, configurations)}: what busy app connections waited for "
        "(samples): " + (", ".join(f"{w} {n}" for w, n in c.waits) or "nothing")
        for c in configurations
    ]
    rounds = max(c.round for c in configurations)

    def prefix(c: Configuration) -> str:
        return f"round {c.round}: " if rounds > 1 else ""

    for c in configurations:
        if c.runners == 1:
            continue
        one = baseline(c, configurations)
        achieved = c.rate / one.rate if one.rate else math.nan
        goal = (
            f", goal >= {GOAL_RATIO}x: {'met' if achieved >= GOAL_RATIO else 'NOT met'}"
            if c.runners == 2
            else ""
        )
        lines.append(
            f"{prefix(c)}{c.runners} runners / 1 runner: {achieved:.2f}x updates/s on "
            f"{os.cpu_count()} CPUs{goal}; runners' CPU per update "
            f"{c.per_update_ms(sum(c.runner_cpu_s)):.2f} ms "
            f"vs {one.per_update_ms(sum(one.runner_cpu_s)):.2f} ms"
        )
    return lines


async def run(args: argparse.Namespace) -> list[Configuration]:
    source = Path(args.course).read_text(encoding="utf-8")
    loaded = load_course(source, source_name=str(args.course))
    if loaded.course is None:
        raise SystemExit(f"{args.course} does not load: {loaded.errors[0]}")
    kinds = script_kinds(loaded.course)
    configurations = []
    with servers(args.database_url, args.redis_url) as urls:
        for round_ in range(1, args.rounds + 1):
            for count in args.runners:
                async with scratch_database(urls.database_url) as bench:
                    print(f"  {count} runner(s), round {round_}...", file=sys.stderr)
                    measured = await measure(urls.redis_url, bench, count, args, kinds, source)
                    measured.round = round_
                    configurations.append(measured)
    return configurations


def default_runners() -> str:
    return "1,2,4" if (os.cpu_count() or 1) >= 4 else "1,2"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default=DEFAULT_SIZE, help=f"bots x students ({DEFAULT_SIZE})")
    parser.add_argument(
        "--actions", type=int, default=DEFAULT_ACTIONS, help="updates per student (15)"
    )
    parser.add_argument(
        "--runners", default=default_runners(), help="runner counts (1,2; 1,2,4 with 4+ CPUs)"
    )
    parser.add_argument("--lease-ttl", type=float, default=10.0, help="COURSEBOT_LEASE_TTL (10)")
    parser.add_argument("--lease-renew", type=float, default=1.0, help="COURSEBOT_LEASE_RENEW (1)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every runner count this many times (1)"
    )
    parser.add_argument("--course", default=str(DEFAULT_COURSE), help="course YAML")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per wait (180)")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.size = Size.parse(args.size)
        args.runners = [int(n) for n in args.runners.split(",")]
    except ValueError as error:
        parser.error(str(error))
    if args.runners[0] != 1 or any(n < 1 for n in args.runners):
        parser.error("--runners must start with 1 (the baseline), e.g. 1,2,4")
    if args.actions < 1 or args.rounds < 1:
        parser.error("--actions and --rounds must be at least 1")
    if args.lease_renew * 3 > args.lease_ttl:
        parser.error("--lease-renew must be at most a third of --lease-ttl")
    return args


def report(args: argparse.Namespace, configurations: Sequence[Configuration], load: str) -> str:
    lines = [
        f"course {Path(args.course).name}, {args.size}, {args.actions} updates per student; "
        f"lease TTL {args.lease_ttl:g} s, renewed every {args.lease_renew:g} s",
        f"at the start: {load}",
        f"at the end:   {machine_line()}",
        render(configurations),
        "",
        render_takeovers(configurations, args.lease_ttl),
        *summary(configurations),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load = machine_line()
    configurations = asyncio.run(run(args))
    print(report(args, configurations, load))
    completed = all(c.completed and c.script_followed for c in configurations) and all(
        not math.isnan(t.answering_s) for c in configurations for t in c.takeovers
    )
    return 0 if completed else 1


if __name__ == "__main__":
    sys.exit(main())
