"""Scripted students for the throughput benchmark: closed loop, one action at a time.

Each student sends its next update only after the bot answered the previous one, like a
person does, so the load is `bots x students` concurrent conversations rather than a
firehose no real school produces. Latency is measured per action, from the moment the
update is queued at the (stub) Bot API to the first message the bot sends to that chat.

Two ways to play:
- `course`: the student reads the bot's messages and answers whatever the last interactive
  one asks (polls: wrong, right, right, wrong, ...; keyboards: the last button), which
  is exactly the path `benchmarks.engine_steps.script` takes;
- `echo`: the student sends the same sequence of update kinds (from that same script) to a
  bot that only replies "ok", i.e. the baseline's work load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.engine_steps import script
from benchmarks.stub_api import StubTelegram
from engine.events import Button, Event, PollAnswer, Start, Text
from engine.model import Course

Kind = Literal["start", "poll", "button", "text"]
Mode = Literal["course", "echo"]

_KINDS: dict[type, Kind] = {Start: "start", PollAnswer: "poll", Button: "button", Text: "text"}


def student_kinds(events: Sequence[Event]) -> list[Kind]:
    """The updates a student sends along a scripted playthrough (engine-internal events such
    as PollSent are the adapter's, not the student's, and are left out)."""
    return [_KINDS[type(event)] for event in events if type(event) in _KINDS]


@dataclass
class Student:
    bot_id: int
    user_id: int
    start_payload: str
    done: int = 0  # actions sent
    pushed_at: float | None = None  # when the unanswered action was queued
    polls_answered: int = 0
    sent: list[Kind] = field(default_factory=list)
    last_message: dict[str, Any] | None = None


class Classroom:
    """Every student of a benchmark run, driven by the messages the stub reports."""

    def __init__(
        self, stub: StubTelegram, *, mode: Mode, actions: int, kinds: Sequence[Kind]
    ) -> None:
        if actions < 1 or len(kinds) < actions:
            raise ValueError(f"the script has {len(kinds)} student actions, {actions} asked")
        self._stub = stub
        self._mode = mode
        self._actions = actions
        self._kinds = list(kinds[:actions])
        self._students: dict[tuple[int, int], Student] = {}
        self._unfinished = 0
        self.latencies: list[float] = []
        self.finished = asyncio.Event()
        stub.on_send.append(self._on_send)

    def enroll(self, bot_id: int, user_id: int, start_payload: str) -> None:
        self._students[(bot_id, user_id)] = Student(bot_id, user_id, start_payload)
        self._unfinished += 1

    @property
    def students(self) -> list[Student]:
        return list(self._students.values())

    @property
    def actions_sent(self) -> int:
        return sum(s.done for s in self._students.values())

    def begin(self) -> None:
        """Every student presses Start at once (the worst moment for the runtime)."""
        if not self._students:
            self.finished.set()
        for student in self._students.values():
            self._act(student, "start")

    # ---- reacting to the bot ----------------------------------------------------------------

    def _on_send(self, bot_id: int, chat_id: int, message: dict[str, Any]) -> None:
        student = self._students.get((bot_id, chat_id))
        if student is None:
            return
        if student.pushed_at is not None:
            self.latencies.append(time.perf_counter() - student.pushed_at)
            student.pushed_at = None
            if student.done == self._actions:
                self._unfinished -= 1
                if self._unfinished == 0:
                    self.finished.set()
        student.last_message = message
        if student.done >= self._actions or student.pushed_at is not None:
            return
        if self._mode == "echo":
            self._act(student, self._kinds[student.done])
        elif "poll" in message:
            self._act(student, "poll")
        elif _callback_buttons(message):
            self._act(student, "button")

    def _act(self, student: Student, kind: Kind) -> None:
        message = student.last_message
        bot, user = student.bot_id, student.user_id
        if kind == "start":
            self._stub.push_text(bot, user, f"/start {student.start_payload}")
        elif kind == "text":
            self._stub.push_text(bot, user, "answer")
        elif kind == "poll":
            poll_id, options = self._answer(student, message)
            self._stub.push_poll_answer(bot, user, poll_id, options)
        else:
            assert message is not None
            buttons = _callback_buttons(message) or ["1:0"]
            self._stub.push_button(bot, user, message, buttons[-1])
        student.sent.append(kind)
        student.done += 1
        student.pushed_at = time.perf_counter()

    def _answer(self, student: Student, message: dict[str, Any] | None) -> tuple[str, list[int]]:
        """Wrong, right, right, wrong, ... (as engine_steps.script); echo mode has no poll."""
        answered, student.polls_answered = student.polls_answered, student.polls_answered + 1
        poll = (message or {}).get("poll")
        if poll is None:
            return f"echo-{student.user_id}-{answered}", [0]
        right = (poll.get("correct_option_ids") or [0])[:1]
        wrong = [i for i in range(len(poll["options"])) if i not in right][:1] or right
        return poll["id"], right if answered % 3 else wrong


def _callback_buttons(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if b.get("callback_data")]


def script_kinds(course: Course) -> list[Kind]:
    """The student's update kinds along the engine benchmark's playthrough of `course`."""
    return student_kinds([event for event, _ in script(course)])
