"""Play a course in the terminal through the real engine (`coursebot play`).

A course author's fastest feedback loop: no Telegram, no database. The player does what the
Telegram adapter does -- execute effects in order, feed results back as events -- with the
terminal as the chat: buttons and poll options become numbered choices, delays can be
skipped, and time is simulated so a "1d" pause takes no real time.
"""

from __future__ import annotations

import html
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from courses.llm import ChatModel, LLMError
from engine import step
from engine.effects import (
    AskLLM,
    Effect,
    Finish,
    InlineButton,
    Record,
    SendAudio,
    SendMedia,
    SendPoll,
    SendText,
    Typing,
)
from engine.events import (
    Button,
    Event,
    LLMFailed,
    LLMReply,
    PollAnswer,
    PollSent,
    Start,
    Text,
    TimerFired,
    WebAppData,
)
from engine.limits import MAX_UNATTENDED_STEPS
from engine.model import Course
from engine.state import RunState

_TAG = re.compile(r"<[^>]+>")
_DIGITS = re.compile(r"[0-9]{1,6}")


class EndOfInput(Exception):
    """The terminal closed (EOF): the player stops cleanly."""


@dataclass
class TerminalIO:
    """How the player talks to the person; tests pass scripted functions."""

    read: Callable[[str], str] = input
    write: Callable[[str], None] = print
    reads: int = 0

    def ask(self, prompt: str) -> str:
        self.reads += 1
        try:
            return self.read(prompt)
        except EOFError:
            raise EndOfInput from None


@dataclass
class _Poll:
    poll_id: str
    options: tuple[str, ...]
    multiple: bool


class TerminalPlayer:
    def __init__(
        self,
        course: Course,
        io: TerminalIO,
        chat: ChatModel,
        *,
        fast: bool = False,
        start: datetime | None = None,
    ) -> None:
        self.course = course
        self.io = io
        self.chat = chat
        self.fast = fast
        self.now = start or datetime.now(UTC)
        self.state = RunState.new()
        self.pending: deque[Event] = deque([Start()])
        self.buttons: tuple[InlineButton, ...] = ()
        self.poll: _Poll | None = None
        self.polls_sent = 0

    def run(self) -> int:
        """Play until the course finishes (0), input ends (0), or the run gets stuck or the
        engine halts it as a loop without input (1)."""
        try:
            while True:
                event = self.pending.popleft() if self.pending else self._next_input()
                if event is None:
                    self.io.write("The course is not waiting for anything and did not finish.")
                    return 1
                self.state, effects = step(self.course, self.state, event, self.now)
                for effect in effects:
                    self._execute(effect)
                if self.state.finished:
                    return 1 if self.state.status == "halted" else 0
        except EndOfInput:
            self.io.write("\n(end of input: leaving the course)")
            return 0

    # --- effects ---------------------------------------------------------------------------

    def _execute(self, effect: Effect) -> None:
        match effect:
            case SendText():
                self.io.write(_readable(effect.text, effect.parse_mode))
                self._show_buttons(effect.buttons)
            case SendMedia():
                for url in effect.urls:
                    self.io.write(f"🖼  {url}")
                if effect.caption:
                    self.io.write(_readable(effect.caption, effect.parse_mode))
                self._show_buttons(effect.buttons)
            case SendAudio():
                for url in effect.urls:
                    self.io.write(f"🎧 {url}")
                if effect.caption:
                    self.io.write(_readable(effect.caption, effect.parse_mode))
            case SendPoll():
                self._show_poll(effect)
            case Record(role="user", score=score, maxscore=maxscore) if maxscore:
                self.io.write(f"   [score {_number(score or 0)}/{_number(maxscore)}]")
            case Typing():
                self.io.write("…")
            case AskLLM():
                self.pending.append(self._ask_llm(effect))
            case Finish(status="completed"):
                self.io.write("🏁 Course completed.")
            case Finish(status="halted"):
                self.io.write(
                    f"Stopped after {MAX_UNATTENDED_STEPS} steps without any input: the course "
                    "loops."
                )
            case Finish():
                self.io.write("⏹ Stopped.")

    def _show_buttons(self, buttons: tuple[InlineButton, ...]) -> None:
        if not buttons:
            return
        self.buttons = buttons
        number = 0
        for button in buttons:
            if button.data is not None:
                number += 1
                self.io.write(f"  [{number}] {button.text}")
            else:
                self.io.write(f"  🌐 {button.text}: {button.web_app_url or button.url}")

    def _show_poll(self, poll: SendPoll) -> None:
        self.polls_sent += 1
        poll_id = f"terminal-poll-{self.polls_sent}"
        self.poll = _Poll(poll_id, poll.options, poll.multiple)
        kind = " (choose one or more)" if poll.multiple else ""
        self.io.write(f"📊 {poll.question.strip()}{kind}")
        for number, option in enumerate(poll.options, start=1):
            self.io.write(f"  ({number}) {option}")
        self.pending.append(PollSent(poll_id, poll.ref))

    def _ask_llm(self, request: AskLLM) -> Event:
        try:
            return LLMReply(
                self.chat.complete(request.model, request.messages, request.temperature)
            )
        except LLMError as exc:
            self.io.write(f"⚠️  LLM request failed: {exc}")
            return LLMFailed(str(exc))

    # --- input -----------------------------------------------------------------------------

    def _next_input(self) -> Event | None:
        awaiting = self.state.awaiting
        if awaiting in ("button", "webapp"):
            return self._choose_button(with_webapp=awaiting == "webapp")
        if awaiting == "poll" and self.poll is not None:
            return self._answer_poll(self.poll)
        if awaiting in ("text", "dialog"):
            return Text(self._read_nonempty("> "))
        if self.state.waits:
            return self._wait()
        return None

    def _choose_button(self, *, with_webapp: bool) -> Event:
        callbacks = [b for b in self.buttons if b.data is not None]
        hint = f"Type a number from 1 to {len(callbacks)}"
        if with_webapp:
            hint += ", or any other text to send it as the mini app's answer"
        while True:
            answer = self.io.ask("> ").strip()
            number = _choice_number(answer, len(callbacks))
            if number is not None:
                return Button(callbacks[number - 1].data or "")
            if with_webapp and answer and not _DIGITS.fullmatch(answer):
                return WebAppData(answer)
            self.io.write(hint + ".")

    def _answer_poll(self, poll: _Poll) -> Event:
        count = len(poll.options)
        hint = (
            f"Type one or more numbers from 1 to {count}, e.g. 1 3."
            if poll.multiple
            else f"Type a number from 1 to {count}."
        )
        while True:
            words = re.split(r"[\s,;]+", self.io.ask("> ").strip())
            numbers = [_choice_number(word, count) for word in words]
            if None not in numbers:
                chosen = sorted({n - 1 for n in numbers if n is not None})
                if poll.multiple or len(chosen) == 1:
                    return PollAnswer(poll.poll_id, tuple(chosen))
            self.io.write(hint)

    def _read_nonempty(self, prompt: str) -> str:
        while True:
            text = self.io.ask(prompt).strip()
            if text:
                return text
            self.io.write("(type your answer)")

    def _wait(self) -> Event:
        wait = min(self.state.waits, key=lambda w: w.due_at)
        if wait.continuation:  # the engine's own pause between batches: nobody waits for it
            return TimerFired(wait.wait_id)
        left = format_duration(wait.due_at - self.now)
        if self.fast:
            self.io.write(f"⏳ waiting {left} — skipped (--fast)")
        else:
            self.io.ask(f"⏳ waiting {left} — press Enter to skip ")
        self.now = max(self.now, wait.due_at)
        return TimerFired(wait.wait_id)


def format_duration(delta: timedelta) -> str:
    """`1d:2h:3m:4s` style, as course authors write waits."""
    seconds = max(int(delta.total_seconds()), 0)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return ":".join(parts) or "0s"


def _choice_number(text: str, count: int) -> int | None:
    """`text` as a choice from 1 to `count`, or None (ASCII digits only: int("²") fails)."""
    if _DIGITS.fullmatch(text) and 1 <= int(text) <= count:
        return int(text)
    return None


def _readable(text: str, parse_mode: str | None) -> str:
    """HTML markup would only clutter a terminal; Markdown reads fine as it is."""
    if parse_mode and parse_mode.upper().startswith("HTML"):
        text = html.unescape(_TAG.sub("", text))
    return text.rstrip()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
