"""Test support for the Telegram runtime: provisioning rows, a clock tests can move, and an
autopilot student that plays a course in the fake Telegram the way a person would (reading
the last thing the bot sent and answering it)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adapters.telegram.runtime import TelegramRuntime
from botapi.deeplink import build_start_payload
from courses.loader import load_course
from engine.model import course_to_elements
from engine.progress import Waiting, position, waiting_for
from engine.state import RunState
from storage.crypto import Secret, SecretBox
from storage.db import Database
from storage.models import Run
from storage.repositories import bots, courses, deployments, runs, tokens
from tests.fakes.telegram_api import FakeBot, FakeTelegram, Sent


class ShiftableClock:
    """Real UTC time plus an offset the test can push forward (to make delays fall due)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


async def add_bot(
    db: Database, box: SecretBox, account_id: int, fake_bot: FakeBot, *, mode: str = "polling"
) -> int:
    async with db.tenant(account_id) as session:
        row = await bots.create(
            session,
            account_id,
            token=Secret(fake_bot.token),
            box=box,
            telegram_id=fake_bot.id,
            username=fake_bot.username,
            mode=mode,
        )
        return row.id


async def add_course_version(db: Database, account_id: int, source_text: str, title: str) -> int:
    loaded = load_course(source_text, source_name=title)
    assert loaded.course is not None, [str(d) for d in loaded.errors]
    elements = course_to_elements(loaded.course)
    async with db.tenant(account_id) as session:
        course = await courses.create(session, account_id, title=title, slug=title.lower())
        version = await courses.add_version(
            session,
            account_id,
            course.id,
            source_text=source_text,
            source_format="yaml",
            elements=elements,
            checksum=hashlib.sha256(source_text.encode()).hexdigest(),
        )
        return version.id


async def deploy(
    db: Database, account_id: int, version_id: int, bot_id: int, **options: object
) -> int:
    async with db.tenant(account_id) as session:
        row = await deployments.create(
            session,
            account_id,
            course_version_id=version_id,
            bot_id=bot_id,
            environment=str(options.pop("environment", "test")),
            **options,  # type: ignore[arg-type]
        )
        return row.id


async def add_token(
    db: Database, account_id: int, deployment_id: int, kind: str = "public", **options: object
) -> str:
    async with db.tenant(account_id) as session:
        row = await tokens.create(
            session,
            account_id,
            deployment_id=deployment_id,
            kind=kind,
            **options,  # type: ignore[arg-type]
        )
        return row.token


@dataclass
class Course:
    """A course deployed to a bot with a public token, ready to be started."""

    account_id: int
    bot_id: int
    fake_bot: FakeBot
    deployment_id: int
    token: str
    elements: tuple = ()

    @property
    def payload(self) -> str:
        return build_start_payload(self.deployment_id, self.token)


async def until_hosted(runtime: TelegramRuntime, bot_id: int, timeout: float = 10.0) -> None:
    """Wait until the runtime's pool hosts the bot (it picks new bots up on its own)."""
    deadline = time.monotonic() + timeout
    while runtime.pool.get(bot_id) is None:
        assert time.monotonic() < deadline, "the bot was not hosted"
        await asyncio.sleep(0.05)


async def active_run(db: Database, account_id: int, bot_id: int, chat_id: int) -> Run | None:
    async with db.tenant(account_id) as session:
        return await runs.get_active(session, account_id, bot_id, chat_id)


async def latest_run(db: Database, account_id: int, chat_id: int) -> Run | None:
    async with db.tenant(account_id) as session:
        return await session.scalar(
            select(Run)
            .where(Run.account_id == account_id, Run.chat_id == chat_id)
            .order_by(Run.id.desc())
            .limit(1)
        )


async def quiet(
    fake: FakeTelegram, chat_id: int, *, settle_s: float = 0.25, timeout: float = 20.0
) -> None:
    """Wait until the bot has stopped sending to the chat for `settle_s`."""
    deadline = time.monotonic() + timeout
    seen = -1
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        count = len(fake.sent_to(chat_id))
        if count != seen:
            seen, last_change = count, time.monotonic()
        elif time.monotonic() - last_change >= settle_s:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"chat {chat_id} never went quiet")


AnswerPicker = Callable[[dict], list[int]]


def right_answer(poll: dict) -> list[int]:
    if poll.get("type") == "quiz":
        return list(poll.get("correct_option_ids") or [poll.get("correct_option_id", 0)])
    if poll.get("allows_multiple_answers"):
        return [0, 1]
    return [0]


def wrong_answer(poll: dict) -> list[int]:
    if poll.get("type") == "quiz":
        correct = set(poll.get("correct_option_ids") or [poll.get("correct_option_id", 0)])
        return [next(i for i in range(len(poll["options"])) if i not in correct)]
    return [len(poll["options"]) - 1]


@dataclass
class Autopilot:
    """Plays one student through a course: answers the latest poll, presses the first unused
    button of the latest keyboard, types text when the run waits for text, and moves the
    clock when the run waits for a timer. Stops when the run is no longer active."""

    fake: FakeTelegram
    db: Database
    course: Course
    user_id: int
    clock: ShiftableClock | None = None
    pick: AnswerPicker = right_answer
    prefer: tuple[str, ...] = ()  # button texts the student taps when offered; else the first
    text_answer: str = "1 2 3"
    dialog_lines: tuple[str, ...] = ("Привет!", "конец")
    handled: set[int] = field(default_factory=set)
    steps: int = 0
    dialog_turns: dict[str, int] = field(default_factory=dict)

    async def start(self) -> None:
        self.fake.push_start(self.course.fake_bot, self.user_id, self.course.payload)
        await self._wait_for_run()

    async def _wait_for_run(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await latest_run(self.db, self.course.account_id, self.user_id) is not None:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"student {self.user_id} got no run")

    async def step(self, patience_s: float = 30.0) -> None:
        """Take one action as soon as the bot has shown what to answer (the run's state is
        committed a moment before its messages are sent)."""
        deadline = time.monotonic() + patience_s
        while True:
            await quiet(self.fake, self.user_id)
            run = await active_run(
                self.db, self.course.account_id, self.course.bot_id, self.user_id
            )
            assert run is not None, f"student {self.user_id} has no active run"
            if await self._act(run):
                self.steps += 1
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"student {self.user_id} has nothing to answer at {run_position(run)!r}"
                )
            await asyncio.sleep(0.2)

    async def play(self, max_steps: int = 600, patience_s: float = 30.0) -> Run:
        idle_since: float | None = None
        while self.steps < max_steps:
            await quiet(self.fake, self.user_id)
            run = await active_run(
                self.db, self.course.account_id, self.course.bot_id, self.user_id
            )
            if run is None:
                finished = await latest_run(self.db, self.course.account_id, self.user_id)
                assert finished is not None
                return finished
            if await self._act(run):
                self.steps += 1
                idle_since = None
                continue
            # The state is committed before its messages are sent: give delivery a moment.
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > patience_s:
                raise AssertionError(
                    f"student {self.user_id} is stuck at {run_position(run)!r} "
                    f"waiting for {run_waiting(run)!r}"
                )
            await asyncio.sleep(0.2)
        raise AssertionError(f"student {self.user_id} did not finish in {max_steps} steps")

    async def _act(self, run: Run) -> bool:
        waiting = run_waiting(run)
        awaiting = waiting.kind
        last = self._latest_unhandled()
        if awaiting == "poll" and last is not None and last.poll is not None:
            self.handled.add(last.message_id)
            self.fake.answer_poll(
                self.course.fake_bot, self.user_id, last.poll["id"], self.pick(last.poll)
            )
            return True
        if awaiting in ("button", "miniapp") and last is not None:
            callbacks = [b for b in last.buttons if b.get("callback_data")]
            if callbacks:
                self.handled.add(last.message_id)
                preferred = [b for b in callbacks if b.get("text") in self.prefer]
                if preferred:
                    choice = preferred[0]
                else:
                    choice = callbacks[-1] if awaiting == "miniapp" else callbacks[0]
                self.fake.press_button(
                    self.course.fake_bot, self.user_id, last, choice["callback_data"]
                )
                return True
        if awaiting == "dialog":
            element = str(run_position(run))
            turn = self.dialog_turns.get(element, 0)
            self.dialog_turns[element] = turn + 1
            line = self.dialog_lines[min(turn, len(self.dialog_lines) - 1)]
            self.fake.push_text(self.course.fake_bot, self.user_id, line)
            return True
        if awaiting == "text":
            self.fake.push_text(self.course.fake_bot, self.user_id, self.text_answer)
            return True
        if waiting.timer is not None:
            if self.clock is None:
                return False
            due = waiting.timer.due_at
            self.clock.advance(max(timedelta(), due - self.clock()) + timedelta(seconds=1))
            await asyncio.sleep(0.6)  # the scheduler polls every 0.25 s
            return True
        return False

    def _latest_unhandled(self) -> Sent | None:
        sent = self.fake.sent_to(self.user_id, self.course.fake_bot)
        for item in reversed(sent):
            if item.poll is not None or item.buttons:
                return None if item.message_id in self.handled else item
        return None


def run_state(run: Run) -> RunState:
    """The run's stored state as the engine reads it."""
    return RunState.from_row(run.state)


def run_waiting(run: Run) -> Waiting:
    """What the run waits for (engine/progress.py)."""
    return waiting_for(run_state(run))


def run_position(run: Run) -> str | None:
    """The element the run is at (engine/progress.py)."""
    return position(run_state(run))
