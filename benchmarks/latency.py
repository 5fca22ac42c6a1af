"""Reply latency: how soon a student's tap, vote or typed answer is answered.

Students play benchmarks/latency_course.yaml through the real runtime (polling, inbox,
journal, engine, outbox, sender, PostgreSQL, Redis), configured as a runner is: with bot
leases, so that every step checks the lease as it does in production. Per action the
benchmark times, at the Bot API (the in-process stub of benchmarks/stub_api.py), from the
update being queued there to the first message of the reply arriving there; for a typed
answer, which brings three messages, also until the third one arrived.

Idle: one bot paced as in production (Telegram's per-bot and per-chat limits, bursts
included: `RateLimits()`), one action at a time, 0.2 s after the last reply (the bot's 30/s
bucket is full again). Measured students take turns, and each waits `--think` seconds after the
bot's last reply to it before acting again, as a reader would (with Telegram's one message
a second per chat, three seconds let a chat's burst refill: a student who taps faster than
they can read is paced, by design).

Under load (`--load 1000x2`): the same measured students while bots x students play the
same course in closed loop on the same process (each acts as soon as its step arrived
whole), with the pacing lifted as `benchmarks.throughput` lifts it, so that both sides
carry as much load as they can take (paced, the runtime's load students would wait for
Telegram's one message a second while the baseline's would not).

The baseline, measured in the same run: bare aiogram (a `Dispatcher` polling the same
stub) answering the same updates with the same messages: a poll after /start and after
answering a pressed button's callback, a prompt after a vote, three messages (the last
with a button) after a typed answer.

    python -m benchmarks.latency [--small] [--actions 300] [--students 20] [--think 3]
                                 [--load 1000x2]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PollAnswer,
)
from redis.asyncio import Redis

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from benchmarks.provision import TELEGRAM_ID_BASE, bot_token, provision_schools
from benchmarks.report import Column, machine_line, percentile, ratio, render_table
from benchmarks.services import BenchDatabase, add_server_arguments, scratch_database, servers
from benchmarks.stub_api import StubTelegram
from benchmarks.students import Kind
from benchmarks.throughput import UNPACED, Size
from botapi.bot_factory import SessionPools
from process import course_workers
from runtime.leases import LeaseKeeper
from storage.config import Settings
from storage.db import Database

COURSE = Path(__file__).with_name("latency_course.yaml")
GOAL_P50_RATIO = 1.5  # of bare aiogram's
GOAL_P50_S = 0.100
GOAL_THREE_S = 1.0
PROBE_TELEGRAM_ID = TELEGRAM_ID_BASE + 500_000  # apart from the load's bots
FIRST_PROBE_USER = 30_000_000
FIRST_LOAD_USER = 40_000_000
# What a student does next, and how many messages the bot answers it with.
NEXT: dict[Kind, Kind] = {"start": "poll", "poll": "text", "text": "button", "button": "poll"}
MESSAGES: dict[Kind, int] = {"start": 1, "poll": 1, "text": 3, "button": 1}
MEASURED: tuple[Kind, ...] = ("button", "poll", "text")
# Between two measured actions: the bot's 30/s bucket is full again (an action spends up to
# four of its tokens: an acknowledgement and three messages), so each meets a quiet bot.
QUIET_S = 0.2


# ---- students ------------------------------------------------------------------------------


class Student:
    """Plays the course in one chat and times each action's reply at the Bot API."""

    def __init__(self, stub: StubTelegram, bot_id: int, user_id: int, payload: str) -> None:
        self._stub = stub
        self.bot_id = bot_id
        self.user_id = user_id
        self._payload = payload
        self.kind: Kind = "start"  # of the last action
        self._pushed_at = 0.0
        self._remaining = 0  # messages of the last action's reply still to come
        self._last: dict[str, Any] | None = None
        self.first_s = math.nan  # the last action's reply: first message
        self.whole_s = math.nan  # ... and its last one
        self.answered_at = 0.0
        self.answered = asyncio.Event()
        self.actions = 0
        self.unexpected = 0  # messages that answered nothing: the course or stub changed

    def act(self) -> Kind:
        """Do what the course asks now (/start the first time); the kind of action."""
        kind: Kind = "start" if self._last is None else NEXT[self.kind]
        bot, user, last = self.bot_id, self.user_id, self._last
        if kind == "start":
            self._stub.push_text(bot, user, f"/start {self._payload}")
        elif kind == "poll":
            assert last is not None and "poll" in last, last
            self._stub.push_poll_answer(bot, user, last["poll"]["id"], [0])
        elif kind == "text":
            self._stub.push_text(bot, user, "word")
        else:
            assert last is not None
            [row] = last["reply_markup"]["inline_keyboard"]
            self._stub.push_button(bot, user, last, row[0]["callback_data"])
        self.kind = kind
        self.actions += 1
        self._remaining = MESSAGES[kind]
        self.answered.clear()
        self._pushed_at = time.perf_counter()
        return kind

    def receive(self, message: dict[str, Any]) -> bool:
        """A message reached the chat; True when it completed the last action's reply."""
        if self._remaining == 0:
            self.unexpected += 1
            return False
        now = time.perf_counter()
        if self._remaining == MESSAGES[self.kind]:
            self.first_s = now - self._pushed_at
        self._remaining -= 1
        self._last = message
        if self._remaining:
            return False
        self.whole_s = now - self._pushed_at
        self.answered_at = now
        self.answered.set()
        return True


class Chats:
    """Routes the stub's messages to their students; load students act again at once."""

    def __init__(self, stub: StubTelegram) -> None:
        self._stub = stub
        self._students: dict[tuple[int, int], Student] = {}
        self._closed_loop: set[tuple[int, int]] = set()
        self.load_running = False
        stub.on_send.append(self._on_send)

    def add(self, bot_id: int, user_id: int, payload: str, *, closed_loop: bool) -> Student:
        student = Student(self._stub, bot_id, user_id, payload)
        self._students[(bot_id, user_id)] = student
        if closed_loop:
            self._closed_loop.add((bot_id, user_id))
        return student

    def _on_send(self, bot_id: int, chat_id: int, message: dict[str, Any]) -> None:
        key = (bot_id, chat_id)
        student = self._students.get(key)
        if student is None or not student.receive(message):
            return
        if key in self._closed_loop and self.load_running:
            student.act()


# ---- measuring -----------------------------------------------------------------------------


@dataclass
class Measurement:
    name: str
    first_s: dict[Kind, list[float]] = field(default_factory=lambda: {k: [] for k in MEASURED})
    three_s: list[float] = field(default_factory=list)  # a typed answer's three messages
    load_actions: int = 0  # closed-loop students' actions meanwhile
    unexpected: int = 0  # messages that answered no action

    @property
    def all_first_s(self) -> list[float]:
        return [s for kind in MEASURED for s in self.first_s[kind]]


@dataclass(frozen=True)
class Plan:
    actions: int
    students: int
    think_s: float
    load: Size | None
    timeout_s: float


async def _probe(probes: Sequence[Student], plan: Plan, measurement: Measurement) -> None:
    """One action at a time, students in turn, each after its reading pause and with the
    bot quiet for `QUIET_S`."""
    for student in probes:  # /start is admission, not what this measures
        student.act()
        await asyncio.wait_for(student.answered.wait(), plan.timeout_s)
    last_answer = time.perf_counter()
    for index in range(plan.actions):
        student = probes[index % len(probes)]
        due = max(student.answered_at + plan.think_s, last_answer + QUIET_S)
        await asyncio.sleep(due - time.perf_counter())
        kind = student.act()
        await asyncio.wait_for(student.answered.wait(), plan.timeout_s)
        last_answer = student.answered_at
        measurement.first_s[kind].append(student.first_s)
        if kind == "text":
            measurement.three_s.append(student.whole_s)


async def _play(
    name: str,
    stub: StubTelegram,
    plan: Plan,
    probe: tuple[int, str],
    load: Sequence[tuple[int, str]],
) -> Measurement:
    """`probe`, `load`: (bot id, start payload) of the measured bot and the closed-loop ones."""
    probe_bot, probe_payload = probe
    chats = Chats(stub)
    probes = [
        chats.add(probe_bot, FIRST_PROBE_USER + n, probe_payload, closed_loop=False)
        for n in range(plan.students)
    ]
    per_bot = plan.load.students if plan.load else 0
    loaders = [
        chats.add(bot_id, FIRST_LOAD_USER + index * per_bot + n, payload, closed_loop=True)
        for index, (bot_id, payload) in enumerate(load)
        for n in range(per_bot)
    ]
    measurement = Measurement(name)
    chats.load_running = True
    for student in loaders:
        student.act()
    # Every loader past its /start: the load is on.
    await _until(lambda: all(s.actions > 1 for s in loaders), plan.timeout_s, "the load")
    acted_before = sum(s.actions for s in loaders)
    try:
        await _probe(probes, plan, measurement)
    finally:
        chats.load_running = False
    measurement.load_actions = sum(s.actions for s in loaders) - acted_before
    measurement.unexpected = sum(s.unexpected for s in (*probes, *loaders))
    return measurement


# ---- the runtime ---------------------------------------------------------------------------


async def measure_runtime(
    bench: BenchDatabase, redis_url: str, plan: Plan, *, pool_size: int
) -> Measurement:
    db = Database(bench.app_url, pool_size=pool_size, max_overflow=pool_size // 2)
    stub = StubTelegram()
    redis = Redis.from_url(redis_url)
    source = COURSE.read_text(encoding="utf-8")
    [probe_bot] = await provision_schools(
        db, bench.box, bot_count=1, course_source=source, first_telegram_id=PROBE_TELEGRAM_ID
    )
    load_bots = (
        await provision_schools(db, bench.box, bot_count=plan.load.bots, course_source=source)
        if plan.load
        else []
    )
    pools = SessionPools(polling=stub.session(), sending=stub.session())
    limits = UNPACED if plan.load else RateLimits()
    settings = Settings()
    workers = course_workers(settings)
    runtime = TelegramRuntime(  # with leases, as a runner has them (process.build_runtime)
        db,
        bench.box,
        redis,
        RuntimeOptions(poll_timeout_s=10, rate_limits=limits),
        workers=workers,
        session_pools=pools,
        reconcile_interval_s=settings.lease_renew_s,
        leases=LeaseKeeper(db, ttl_s=settings.lease_ttl_s),
    )
    try:
        await workers.start()  # as coursebot up does, before the runtime
        await runtime.start()
        await _until_polling(stub, 1 + len(load_bots), plan.timeout_s)
        return await _play(
            f"runtime, {_setting(plan)}",
            stub,
            plan,
            (probe_bot.telegram_id, probe_bot.start_payload),
            [(b.telegram_id, b.start_payload) for b in load_bots],
        )
    finally:
        await runtime.stop()
        await workers.close()
        await redis.aclose()
        await db.dispose()


# ---- the baseline --------------------------------------------------------------------------

QUESTION, OPTIONS = "Which step comes next?", ["The input", "The messages"]


def baseline_dispatcher() -> Dispatcher:
    """Bare aiogram answering each update with the messages the course answers it with."""
    dp = Dispatcher(storage=MemoryStorage())

    async def send_poll(bot: Bot, chat_id: int) -> None:
        await bot.send_poll(chat_id, QUESTION, OPTIONS, is_anonymous=False)

    @dp.message(F.text.startswith("/start"))
    async def on_start(message: Message, bot: Bot) -> None:
        await send_poll(bot, message.chat.id)

    @dp.message()
    async def on_text(message: Message, bot: Bot) -> None:
        chat_id = message.chat.id
        await bot.send_message(chat_id, "First of three messages.")
        await bot.send_message(chat_id, "Second of three messages.")
        again = InlineKeyboardButton(text="Again", callback_data="again")
        await bot.send_message(
            chat_id,
            "Third of three; press the button to go round again.",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[again]]),
        )

    @dp.callback_query()
    async def on_button(query: CallbackQuery, bot: Bot) -> None:
        await query.answer()
        await send_poll(bot, query.from_user.id)

    @dp.poll_answer()
    async def on_vote(answer: PollAnswer, bot: Bot) -> None:
        if answer.user is not None:
            await bot.send_message(answer.user.id, "Type any word.")

    return dp


async def measure_baseline(plan: Plan) -> Measurement:
    stub = StubTelegram()
    session = stub.session()
    load_bots = plan.load.bots if plan.load else 0
    telegram_ids = [PROBE_TELEGRAM_ID] + [TELEGRAM_ID_BASE + i for i in range(load_bots)]
    bots = [Bot(bot_token(telegram_id), session=session) for telegram_id in telegram_ids]
    dp = baseline_dispatcher()
    polling = asyncio.create_task(
        dp.start_polling(*bots, polling_timeout=10, handle_signals=False, close_bot_session=False)
    )
    try:
        await _until_polling(stub, len(bots), plan.timeout_s)
        return await _play(
            f"aiogram, {_setting(plan)}",
            stub,
            plan,
            (PROBE_TELEGRAM_ID, "x"),
            [(i, "x") for i in telegram_ids[1:]],
        )
    finally:
        await dp.stop_polling()
        await polling


# ---- shared --------------------------------------------------------------------------------


def _setting(plan: Plan) -> str:
    return f"under load ({plan.load})" if plan.load else "idle"


async def _until_polling(stub: StubTelegram, bots: int, timeout_s: float) -> None:
    await _until(lambda: stub.calls["getupdates"] >= bots, timeout_s, "the bots' polling")


async def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not start in time")
        await asyncio.sleep(0.05)


COLUMNS = (
    Column("run", 34),
    Column("reply to", 26),
    Column("count", 7, ","),
    Column("p50 ms", 9, ".1f"),
    Column("p99 ms", 9, ".1f"),
    Column("max ms", 9, ".1f"),
    Column("p50 vs aiogram", 16),
)
ROWS: tuple[tuple[str, str], ...] = (
    ("a pressed button: 1st msg", "button"),
    ("a vote: 1st msg", "poll"),
    ("a typed answer: 1st msg", "text"),
    ("any of them: 1st msg", "all"),
    ("a typed answer: 3rd msg", "three"),
)


def _samples(m: Measurement, key: str) -> list[float]:
    if key == "all":
        return m.all_first_s
    if key == "three":
        return m.three_s
    return m.first_s[key]  # type: ignore[index]


def render(pairs: Sequence[tuple[Measurement, Measurement]]) -> str:
    """Per setting, the baseline's rows and then the runtime's."""
    rows = []
    for baseline, runtime in pairs:
        for m in (baseline, runtime):
            for label, key in ROWS:
                values = _samples(m, key)
                p50 = percentile(values, 50)
                rows.append(
                    (
                        m.name,
                        label,
                        len(values),
                        p50 * 1000,
                        percentile(values, 99) * 1000,
                        max(values, default=math.nan) * 1000,
                        ratio(p50, percentile(_samples(baseline, key), 50)),
                    )
                )
    return render_table(COLUMNS, rows)


def verdicts(baseline: Measurement, runtime: Measurement) -> list[str]:
    p50 = percentile(runtime.all_first_s, 50)
    base = percentile(baseline.all_first_s, 50)
    three = percentile(runtime.three_s, 99)
    first_ok = p50 <= GOAL_P50_RATIO * base and p50 <= GOAL_P50_S
    return [
        f"{runtime.name}: first message p50 {p50 * 1000:.1f} ms = {p50 / base:.2f}x aiogram's; "
        f"goal <= {GOAL_P50_RATIO}x and <= {GOAL_P50_S * 1000:.0f} ms: "
        f"{'met' if first_ok else 'NOT met'}",
        f"{runtime.name}: three messages complete, p99 {three * 1000:.0f} ms; goal <= "
        f"{GOAL_THREE_S:.0f} s: {'met' if three <= GOAL_THREE_S else 'NOT met'}",
    ]


async def run(args: argparse.Namespace) -> list[tuple[Measurement, Measurement]]:
    plans = [Plan(args.actions, args.students, args.think, None, args.timeout)]
    if args.load:
        plans.append(Plan(args.actions, args.students, args.think, args.load, args.timeout))
    pairs = []
    with servers(args.database_url, args.redis_url) as urls:
        for plan in plans:
            baseline = await measure_baseline(plan)
            async with AsyncExitStack() as stack:
                bench = await stack.enter_async_context(scratch_database(urls.database_url))
                runtime = await measure_runtime(
                    bench, urls.redis_url, plan, pool_size=args.pool_size
                )
            pairs.append((baseline, runtime))
            print(f"  {_setting(plan)}: done", file=sys.stderr)
    return pairs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="30 actions of 10 students")
    parser.add_argument("--actions", type=int, help="measured actions per run (default 300)")
    parser.add_argument("--students", type=int, help="measured students, in turn (default 20)")
    parser.add_argument(
        "--think", type=float, default=3.0, help="a student's pause after a reply, seconds"
    )
    parser.add_argument("--load", help="also under load: bots x students, e.g. 1000x2")
    parser.add_argument("--pool-size", type=int, default=20, help="runtime DB pool size")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one reply may take")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    args.actions = args.actions or (30 if args.small else 300)
    args.students = args.students or (10 if args.small else 20)
    if args.actions < 1 or args.students < 1 or args.think < 0:
        parser.error("--actions and --students must be at least 1, --think not negative")
    try:
        args.load = Size.parse(args.load) if args.load else None
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    pairs = asyncio.run(run(args))
    print(
        f"{args.actions} measured actions of {args.students} students, {args.think:g} s "
        f"pause; idle with Telegram's pacing, under load without; {machine_line()}"
    )
    print(render(pairs))
    for baseline, runtime in pairs:
        for m in (baseline, runtime):
            if m.load_actions:
                print(f"{m.name}: the load played {m.load_actions:,} actions meanwhile")
            if m.unexpected:
                print(f"{m.name}: {m.unexpected} messages answered no action (check the course)")
        for line in verdicts(baseline, runtime):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
