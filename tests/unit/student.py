"""A scripted student for engine tests: plays a course through `step()` the way the
Telegram adapter would (reporting poll ids, firing timers, answering LLM calls), and finds
buttons and poll options by their visible text so tests read like a chat transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from courses.loader import load_course_file
from engine.effects import (
    AskLLM,
    Effect,
    Finish,
    Record,
    Schedule,
    SendAudio,
    SendMedia,
    SendPoll,
    SendText,
)
from engine.events import (
    Button,
    Event,
    LLMFailed,
    LLMReply,
    PollAnswer,
    Start,
    Stop,
    Text,
    TimerFired,
    Voice,
    WebAppData,
)
from engine.model import Course
from engine.playthrough import Playthrough, poll_id_of
from engine.state import RunState

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


class ScriptError(AssertionError):
    """The script asked for something the chat does not offer (a missing button...)."""


class Student:
    """A test's student: a `Playthrough` (poll ids reported as the adapter would, time
    passing when a timer fires) that the test answers step by step; LLM calls are answered
    by the test too (`llm`, `llm_fails`)."""

    def __init__(self, course: Course, now: datetime = T0) -> None:
        self.course = course
        self.chat = Playthrough(course, now)
        self.log: list[Effect] = []
        self.last: list[Effect] = []

    @property
    def state(self) -> RunState:
        return self.chat.state

    @property
    def now(self) -> datetime:
        return self.chat.now

    # --- driving ----------------------------------------------------------------------

    def send(self, event: Event) -> list[Effect]:
        """Feed one event (and the poll ids of the polls it sends)."""
        self.last = self.chat.send(event)
        self.log.extend(self.last)
        return self.last

    def start(self) -> list[Effect]:
        return self.send(Start())

    def press(self, label: str) -> list[Effect]:
        """Press the newest callback button labelled `label`."""
        for effect in reversed(self.log):
            for button in getattr(effect, "buttons", ()):
                if button.text == label and button.data is not None:
                    return self.send(Button(button.data))
        raise ScriptError(f"no button {label!r} in the chat")

    def choose(self, *labels: str) -> list[Effect]:
        """Answer the newest poll with the options labelled `labels`."""
        poll = self.last_poll()
        missing = [label for label in labels if label not in poll.options]
        if missing:
            raise ScriptError(f"poll {poll.question!r} has no option(s) {missing}")
        ids = tuple(poll.options.index(label) for label in labels)
        return self.send(PollAnswer(poll_id_of(poll.ref), ids))

    def choose_correct(self) -> list[Effect]:
        poll = self.last_poll()
        return self.send(PollAnswer(poll_id_of(poll.ref), poll.correct_option_ids[:1]))

    def choose_wrong(self) -> list[Effect]:
        poll = self.last_poll()
        wrong = [i for i in range(len(poll.options)) if i not in poll.correct_option_ids]
        return self.send(PollAnswer(poll_id_of(poll.ref), (wrong[0],)))

    def type(self, text: str) -> list[Effect]:
        return self.send(Text(text))

    def speak(self, transcript: str | None) -> list[Effect]:
        return self.send(Voice(transcript))

    def llm(self, reply: str) -> list[Effect]:
        return self.send(LLMReply(reply))

    def llm_fails(self) -> list[Effect]:
        return self.send(LLMFailed("timeout"))

    def webapp(self, data: str) -> list[Effect]:
        return self.send(WebAppData(data))

    def wait_for_timer(self) -> list[Effect]:
        """Let time pass until the newest scheduled timer is due, then fire it."""
        schedule = next((e for e in reversed(self.log) if isinstance(e, Schedule)), None)
        if schedule is None:
            raise ScriptError("no timer was scheduled")
        self.chat.now = max(self.chat.now, schedule.due_at)
        return self.send(TimerFired(schedule.wait_id))

    def stop(self) -> list[Effect]:
        return self.send(Stop())

    # --- reading the chat ------------------------------------------------------------

    def last_poll(self) -> SendPoll:
        if self.chat.poll is None:
            raise ScriptError("no poll in the chat")
        return self.chat.poll

    def last_ask(self) -> AskLLM:
        ask = next((e for e in reversed(self.log) if isinstance(e, AskLLM)), None)
        if ask is None:
            raise ScriptError("the LLM was never asked")
        return ask

    @property
    def finished(self) -> bool:
        return self.state.finished

    def finish_status(self) -> str | None:
        return next((e.status for e in self.log if isinstance(e, Finish)), None)


def texts(effects: list[Effect]) -> list[str]:
    """Visible texts, in order: messages, captions, poll questions."""
    out: list[str] = []
    for effect in effects:
        if isinstance(effect, SendText):
            out.append(effect.text)
        elif isinstance(effect, SendMedia | SendAudio) and effect.caption:
            out.append(effect.caption)
        elif isinstance(effect, SendPoll):
            out.append(effect.question)
    return out


def polls(effects: list[Effect]) -> list[SendPoll]:
    return [e for e in effects if isinstance(e, SendPoll)]


def user_records(effects: list[Effect]) -> list[Record]:
    return [e for e in effects if isinstance(e, Record) and e.role == "user"]


def scores(effects: list[Effect]) -> dict[str, tuple[float | None, float | None]]:
    """Latest (score, maxscore) per element among scored user answers."""
    return {r.element_id: (r.score, r.maxscore) for r in user_records(effects) if r.maxscore}


def load_file(path: Path) -> Course:
    """A course file through the real loader; it must load without errors."""
    result = load_course_file(path)
    assert result.ok, [str(d) for d in result.diagnostics]
    assert result.course is not None
    return result.course


def sends(effects: list[Effect]) -> list[Effect]:
    """Only what reaches the chat (no Record / Schedule bookkeeping)."""
    return [e for e in effects if isinstance(e, SendText | SendMedia | SendAudio | SendPoll)]


def shown(effects: list[Effect]) -> list[str]:
    """Visible texts without the trailing newlines YAML block scalars leave."""
    return [text.strip() for text in texts(effects)]


def answer_polls(student: Student, prefix: str, pick: Callable[[str], bool]) -> list[str]:
    """Answer consecutive polls of elements starting with `prefix`, right when `pick(id)`;
    returns the poll questions in the order they were asked."""
    asked = []
    while student.state.awaiting == "poll" and (student.state.current or "").startswith(prefix):
        asked.append(student.last_poll().question)
        element_id = student.state.current or ""
        student.choose_correct() if pick(element_id) else student.choose_wrong()
    return asked
