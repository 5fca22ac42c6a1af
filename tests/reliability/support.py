"""Machinery of the reliability suite: a course whose every step leaves a trace, students
who play it from what the fake Telegram shows them (as a person would: answer the newest
prompt, never the database), and an audit that proves nothing was lost, repeated or
reordered.

Sizes: COURSEBOT_RELIABILITY_STUDENTS students per scenario (default 30 so CI stays
quick; the issue's full run is 200). Faults are placed at random: COURSEBOT_RELIABILITY_SEED
replays a failing schedule (every test prints the seed it used).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from storage import system
from storage.crypto import SecretBox
from storage.db import Database
from storage.models import Outbox, OutboxStatus, ProcessedUpdate, Run, Waiting, WaitStatus
from storage.repositories import bots, conversation, members
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram, Sent
from tests.integration.runtime_support import (
    Course,
    add_bot,
    add_course_version,
    add_token,
    deploy,
)

STUDENTS_ENV = "COURSEBOT_RELIABILITY_STUDENTS"
SEED_ENV = "COURSEBOT_RELIABILITY_SEED"
DEFAULT_STUDENTS = 30
STUDENTS_PER_BOT = 10

COURSE = """\
Welcome:
  type: message
  text: Step 1. Welcome to the reliability course.
  button: Start
Fact:
  type: message
  text: Step 2. Every lesson arrives once and in order.
  button: Next
Quiz:
  type: quiz
  text: Step 3. Which number is even?
  answers:
    - text: "3"
      feedback: Step 3 feedback. Not quite.
    - text: "4"
      correct: yes
      feedback: Step 3 feedback. Right, 4 is even.
Word:
  type: input
  text: Step 4. Please type any word.
Pause:
  type: delay
  text: Step 5. A one second pause.
  wait: 1s
  goto: Back
Back:
  type: message
  text: Step 6. Back after the pause.
  button: Finish
Bye:
  type: end
  text: Step 7. Course complete.
"""
TYPE_PROMPT = "Please type any word"
FINAL_TEXT = "Step 7. Course complete."
WORD = "reliable"
# What every run's conversation must be at the end: each step once, in this order.
EXPECTED_SCRIPT = (
    ("Welcome", "bot"),
    ("Welcome", "user"),
    ("Fact", "bot"),
    ("Fact", "user"),
    ("Quiz", "bot"),
    ("Quiz", "user"),
    ("Quiz", "bot"),
    ("Word", "bot"),
    ("Word", "user"),
    ("Pause", "bot"),
    ("Back", "bot"),
    ("Back", "user"),
    ("Bye", "bot"),
)
ACTIONS_PER_STUDENT = 6  # /start, two buttons, a vote, a word, the last button


def student_count() -> int:
    raw = os.environ.get(STUDENTS_ENV, "").strip()
    if not raw:
        return DEFAULT_STUDENTS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{STUDENTS_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


def make_rng(test_name: str) -> random.Random:
    raw = os.environ.get(SEED_ENV, "").strip()
    if raw and not raw.isdigit():
        raise ValueError(f"{SEED_ENV} must be a non-negative integer, got {raw!r}")
    seed = int(raw) if raw else random.randrange(2**32)
    print(f"{test_name}: {SEED_ENV}={seed}")  # shown by pytest when the test fails
    return random.Random(seed)


# ---- provisioning ------------------------------------------------------------------------


async def create_account(db: Database) -> int:
    """An account with an owner, on the plan without limits: the free plan's 100 active
    students would turn the issue's 200-student run away at the door."""
    async with db.system() as session:
        slug = f"rel-{random.randrange(16**8):08x}"
        account = await system.create_account(
            session, slug=slug, name="Reliability", plan="unlimited"
        )
        await members.add(
            session, account.id, telegram_user_id=random.randrange(10**6, 10**9), role="owner"
        )
        return account.id


async def provision_course(
    fake: FakeTelegram, db: Database, box: SecretBox, account_id: int
) -> Course:
    """A new bot with the reliability course deployed behind a public deep link."""
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, COURSE, f"reliability-{fake_bot.id}")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    return Course(account_id, bot_id, fake_bot, deployment_id, token)


async def deactivate(db: Database, courses: Sequence[Course]) -> None:
    """Retire a scenario's bots so later runtimes on the same database leave them alone."""
    for course in courses:
        async with db.tenant(course.account_id) as session:
            await bots.update_bot(session, course.account_id, course.bot_id, active=False)


# ---- students ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    kind: str  # "vote" | "press" | "type"
    sent: Sent


@dataclass(eq=False)
class Student:
    """Plays the course from the newest message the bot sent; acts once per message.

    A message the bot re-sends after a crash gets a new message id: the student taps or
    votes again as a person would (the engine ignores a stale tap and waits for a vote on
    the re-sent poll), but types the word only once.
    """

    fake: FakeTelegram
    course: Course
    user_id: int
    rng: random.Random
    think_s: tuple[float, float] = (0.02, 0.2)
    pushes: list[tuple[int, float]] = field(default_factory=list)  # (update_id, monotonic)
    handled: set[int] = field(default_factory=set)
    typed: bool = False
    finished: bool = False
    _seen: list[Sent] = field(default_factory=list)
    _scanned: int = 0  # how much of the fake's (append-only) record `_seen` covers

    @property
    def actions(self) -> int:
        return len(self.pushes)

    def seen(self) -> list[Sent]:
        """What the bot sent this student, oldest first (read incrementally: hundreds of
        students re-check after every request the fake serves)."""
        record = self.fake.sent
        bot_id = self.course.fake_bot.id
        for sent in record[self._scanned :]:
            if sent.chat_id == self.user_id and sent.bot_id == bot_id:
                self._seen.append(sent)
        self._scanned = len(record)
        return self._seen

    async def play(self, timeout: float) -> None:
        self._pushed(self.fake.push_start(self.course.fake_bot, self.user_id, self.course.payload))
        deadline = time.monotonic() + timeout
        while True:
            try:
                move = await self.fake.wait_for(
                    self._next_move, max(0.0, deadline - time.monotonic())
                )
            except TimeoutError:
                raise AssertionError(self.describe("waited in vain for the next prompt")) from None
            if move is True:
                self.finished = True
                return
            await asyncio.sleep(self.rng.uniform(*self.think_s))
            self._act(move)

    def _next_move(self) -> Move | bool | None:
        seen = self.seen()
        if any((s.text or "").strip() == FINAL_TEXT for s in seen):
            return True
        if not seen or seen[-1].message_id in self.handled:
            return None
        last = seen[-1]
        if last.poll is not None and not last.poll.get("is_closed"):
            return Move("vote", last)
        if any(b.get("callback_data") for b in last.buttons):
            return Move("press", last)
        if TYPE_PROMPT in (last.text or "") and not self.typed:
            return Move("type", last)
        return None

    def _act(self, move: Move) -> None:
        bot, sent = self.course.fake_bot, move.sent
        self.handled.add(sent.message_id)
        if move.kind == "vote":
            poll = sent.poll or {}
            correct = poll.get("correct_option_ids") or [poll.get("correct_option_id", 0)]
            update = self.fake.answer_poll(bot, self.user_id, poll["id"], correct)
        elif move.kind == "press":
            data = next(b["callback_data"] for b in sent.buttons if b.get("callback_data"))
            update = self.fake.press_button(bot, self.user_id, sent, data)
        else:
            self.typed = True
            update = self.fake.push_text(bot, self.user_id, WORD)
        self._pushed(update)

    def _pushed(self, update: dict) -> None:
        self.pushes.append((update["update_id"], time.monotonic()))

    def describe(self, problem: str) -> str:
        recent = [s.text for s in self.seen()[-4:]]
        return (
            f"student {self.user_id} of bot {self.course.bot_id}: {problem}; "
            f"{self.actions} actions so far, last messages seen: {recent}"
        )


@dataclass
class Cohort:
    """Students spread over several bots (and accounts), playing concurrently."""

    fake: FakeTelegram
    courses: list[Course]
    students: list[Student]
    rng: random.Random
    timeout_s: float
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _next_user: int = 9_000_000

    def start(self) -> None:
        for student in self.students:
            self.tasks.append(asyncio.create_task(student.play(self.timeout_s)))

    def add_student(self, course: Course) -> Student:
        """One more student who opens the deep link now (e.g. while something is down)."""
        student = Student(self.fake, course, self._new_user(), self.rng)
        self.students.append(student)
        self.tasks.append(asyncio.create_task(student.play(self.timeout_s)))
        return student

    def _new_user(self) -> int:
        self._next_user += 1
        return self._next_user

    def progress(self) -> float:
        done = sum(min(s.actions, ACTIONS_PER_STUDENT) for s in self.students)
        return done / (len(self.students) * ACTIONS_PER_STUDENT)

    def unfinished(self) -> int:
        return sum(not s.finished for s in self.students)

    async def reach(self, progress: float, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.progress() < progress:
            failed = [t for t in self.tasks if t.done() and t.exception() is not None]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
            if time.monotonic() > deadline:
                raise TimeoutError(f"progress stuck at {self.progress():.0%} < {progress:.0%}")
            await asyncio.sleep(0.02)

    async def finish(self) -> None:
        """Wait until every student has seen the course's last message."""
        try:
            await asyncio.gather(*self.tasks)
        finally:
            await self.close()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def enroll(
    fake: FakeTelegram,
    db: Database,
    box: SecretBox,
    account_ids: Sequence[int],
    rng: random.Random,
    *,
    students: int,
    timeout_s: float = 300.0,
) -> Cohort:
    """Provision ceil(students / 10) bots round-robin over the accounts, and the students."""
    bot_count = max(1, math.ceil(students / STUDENTS_PER_BOT))
    courses = [
        await provision_course(fake, db, box, account_ids[i % len(account_ids)])
        for i in range(bot_count)
    ]
    cohort = Cohort(fake, courses, [], rng, timeout_s)
    cohort.students = [
        Student(fake, courses[i % bot_count], cohort._new_user(), rng) for i in range(students)
    ]
    return cohort


# ---- running the runtime in-process ------------------------------------------------------


@asynccontextmanager
async def hosted_runtime(
    db: Database, box: SecretBox, redis: Redis, fake: FakeTelegram, courses: Sequence[Course]
) -> AsyncIterator[TelegramRuntime]:
    """The production runtime in this process, with test-friendly intervals, hosting
    at least `courses`' bots before it is handed out."""
    runtime = TelegramRuntime(
        db,
        box,
        redis,
        RuntimeOptions(
            api_base=fake.base_url,
            poll_timeout_s=1,
            rate_limits=RateLimits(chat_per_second=100.0, bot_per_second=200.0),
            sweep_interval_s=0.5,
        ),
        workers=shared_course_workers(),
        reconcile_interval_s=0.3,
    )
    await runtime.start()
    try:
        deadline = time.monotonic() + 15
        while any(runtime.pool.get(c.bot_id) is None for c in courses):
            if time.monotonic() > deadline:
                raise TimeoutError("the runtime did not start every bot")
            await asyncio.sleep(0.05)
        yield runtime
    finally:
        await runtime.stop()


# ---- the audit ---------------------------------------------------------------------------


def collapse_repeats(texts: Sequence[str]) -> list[str]:
    """A message re-sent right after itself (a crash between the Bot API call and the
    commit that records it) shown once: what a student reads as one lesson."""
    return [t for i, t in enumerate(texts) if i == 0 or texts[i - 1] != t]


async def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """The first truthy value of `check()` (awaited when it is a coroutine)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


async def audit(
    db: Database, cohort: Cohort, *, resends_allowed: bool, timeout: float = 30.0
) -> list[str]:
    """Every problem found (empty when the scenario lost, repeated and reordered nothing).

    `resends_allowed`: a crash may re-send the one message that was in flight (the outbox
    is at-least-once by design); then consecutive repeats are collapsed before comparing.
    Without it, every message must have reached Telegram exactly once.
    """
    problems: list[str] = []
    fake = cohort.fake
    for course in cohort.courses:
        # The last batch is confirmed to Telegram by the next getUpdates, a moment later.
        await wait_until(
            lambda course=course: not fake.pending_updates(course.fake_bot),
            timeout,
            f"bot {course.bot_id} confirmed every update",
        )
    run_ids: dict[int, list[int]] = {}
    for student in cohort.students:
        problems += await _audit_student(db, student, resends_allowed, run_ids)
    for course in cohort.courses:
        mine = [s for s in cohort.students if s.course is course]
        problems += await _audit_bot(db, course, mine, run_ids)
    return problems


async def _audit_student(
    db: Database, student: Student, resends_allowed: bool, run_ids: dict[int, list[int]]
) -> list[str]:
    course = student.course
    async with db.tenant(course.account_id) as session:
        found = await session.scalars(
            select(Run)
            .where(
                Run.account_id == course.account_id,
                Run.bot_id == course.bot_id,
                Run.chat_id == student.user_id,
            )
            .order_by(Run.id.desc())
        )
        mine: list[Run] = list(found)
        lines = (
            await conversation.list_for_run(session, course.account_id, mine[0].id)
            if len(mine) == 1
            else []
        )
    run_ids.setdefault(course.bot_id, []).extend(r.id for r in mine)
    if len(mine) != 1:
        return [student.describe(f"has {len(mine)} runs instead of one")]
    problems = []
    if mine[0].status != "completed":
        problems.append(student.describe(f"run {mine[0].id} is {mine[0].status}"))
    script = [(line.element_id, line.role) for line in lines]
    if script != list(EXPECTED_SCRIPT):
        problems.append(student.describe(f"conversation {script} != {list(EXPECTED_SCRIPT)}"))
    expected_texts = [line.text.strip() for line in lines if line.role == "bot"]
    shown = [(s.text or "").strip() for s in student.seen()]
    if resends_allowed:
        shown = collapse_repeats(shown)
    if shown != expected_texts:
        problems.append(student.describe(f"Telegram shows {shown}, runs says {expected_texts}"))
    return problems


async def _audit_bot(
    db: Database, course: Course, students: list[Student], run_ids: dict[int, list[int]]
) -> list[str]:
    account_id, bot_id = course.account_id, course.bot_id
    async with db.tenant(account_id) as session:
        inbox = list(
            await session.scalars(
                select(ProcessedUpdate).where(
                    ProcessedUpdate.account_id == account_id, ProcessedUpdate.bot_id == bot_id
                )
            )
        )
        outbox = list(
            await session.scalars(
                select(Outbox).where(Outbox.account_id == account_id, Outbox.bot_id == bot_id)
            )
        )
        timers = list(
            await session.scalars(
                select(Waiting).where(
                    Waiting.account_id == account_id,
                    Waiting.run_id.in_(run_ids.get(bot_id, [])),
                    Waiting.status == WaitStatus.PENDING.value,
                )
            )
        )
    problems = []
    pushed = {update_id for s in students for update_id, _ in s.pushes}
    stored = {row.update_id for row in inbox}
    if missing := sorted(pushed - stored):
        problems.append(f"bot {bot_id}: updates never stored: {missing}")
    if unprocessed := sorted(r.update_id for r in inbox if r.processed_at is None):
        problems.append(f"bot {bot_id}: updates stored but never handled: {unprocessed}")
    if failed := [(r.update_id, r.error) for r in inbox if r.error]:
        problems.append(f"bot {bot_id}: updates that failed: {failed}")
    if unsent := [(r.id, r.status, r.last_error) for r in outbox if r.status != OutboxStatus.SENT]:
        problems.append(f"bot {bot_id}: outbox rows not sent: {unsent}")
    if timers:
        problems.append(f"bot {bot_id}: timers still pending: {[t.id for t in timers]}")
    return problems
