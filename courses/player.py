"""Play a course in the terminal through the real engine (`coursebot play`).

A course author's fastest feedback loop: no Telegram, no database. The engine's in-memory
playthrough (engine/playthrough.py) does what the Telegram adapter does, with simulated time
so a "1d" pause takes no real time; the player adds the terminal as the chat: effects are
printed as they happen, buttons and poll options become numbered choices, delays can be
skipped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from courses.llm import ChatModel, LLMError
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
    Text,
    TimerFired,
    WebAppData,
)
from engine.limits import MAX_UNATTENDED_STEPS
from engine.model import Course, format_duration
from engine.playthrough import Playthrough, drive
from engine.progress import Waiting
from engine.state import PendingWait

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


class TerminalPlayer:
    """The terminal as the chat of a `Playthrough`: effects printed as they happen, the
    person's input read as the student's answers."""

    def __init__(
        self,
        course: Course,
        io: TerminalIO,
        chat: ChatModel,
        *,
        fast: bool = False,
        start: datetime | None = None,
    ) -> None:
        self.io = io
        self.chat = chat
        self.fast = fast
        self.playthrough = Playthrough(
            course, start or datetime.now(UTC), show=self._show, chat_model=self._ask_llm
        )

    def run(self) -> int:
        """Play until the course finishes (0), input ends (0), or the run gets stuck or the
        engine halts it as a loop without input (1)."""
        try:
            ending = drive(self.playthrough, self._answer)
        except EndOfInput:
            self.io.write("\n(end of input: leaving the course)")
            return 0
        if ending == "stuck":
            self.io.write("The course is not waiting for anything and did not finish.")
            return 1
        return 1 if self.playthrough.state.status == "halted" else 0

    # --- effects ---------------------------------------------------------------------------

    def _show(self, effect: Effect) -> None:
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
                kind = " (choose one or more)" if effect.multiple else ""
                self.io.write(f"📊 {effect.question.strip()}{kind}")
                for number, option in enumerate(effect.options, start=1):
                    self.io.write(f"  ({number}) {option}")
            case Record(role="user", score=score, maxscore=maxscore) if maxscore:
                self.io.write(f"   [score {_number(score or 0)}/{_number(maxscore)}]")
            case Typing():
                self.io.write("…")
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
        number = 0
        for button in buttons:
            if button.data is not None:
                number += 1
                self.io.write(f"  [{number}] {button.text}")
            else:
                self.io.write(f"  🌐 {button.text}: {button.web_app_url or button.url}")

    def _ask_llm(self, request: AskLLM) -> LLMReply | LLMFailed:
        try:
            return LLMReply(
                self.chat.complete(request.model, request.messages, request.temperature)
            )
        except LLMError as exc:
            self.io.write(f"⚠️  LLM request failed: {exc}")
            return LLMFailed(str(exc))

    # --- input -----------------------------------------------------------------------------

    def _answer(self, waiting: Waiting) -> Event | None:
        match waiting.kind:
            case "button" | "miniapp":
                return self._choose_button(with_webapp=waiting.kind == "miniapp")
            case "poll" if self.playthrough.poll is not None:
                return self._answer_poll(self.playthrough.poll)
            case "text" | "dialog":
                return Text(self._read_nonempty("> "))
            case "timer" if waiting.timer is not None:
                return self._wait(waiting.timer)
        return None

    def _choose_button(self, *, with_webapp: bool) -> Event:
        callbacks = self.playthrough.callbacks
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

    def _answer_poll(self, poll: SendPoll) -> Event:
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
                    return self.playthrough.poll_answer(tuple(chosen))
            self.io.write(hint)

    def _read_nonempty(self, prompt: str) -> str:
        while True:
            text = self.io.ask(prompt).strip()
            if text:
                return text
            self.io.write("(type your answer)")

    def _wait(self, wait: PendingWait) -> Event:
        if not wait.continuation:  # the engine's own pause between batches: nobody waits
            left = format_duration(wait.due_at - self.playthrough.now)
            if self.fast:
                self.io.write(f"⏳ waiting {left} — skipped (--fast)")
            else:
                self.io.ask(f"⏳ waiting {left} — press Enter to skip ")
        return TimerFired(wait.wait_id)


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
