"""A read-only preview of a course: the engine plays it with default answers, and the
transcript is what a student would have seen.

The same loop as the Telegram adapter (execute effects in order, feed results back as
events), with a student who always takes the first button or poll option, types a fixed
sample text, never waits (timers fire at once) and a dialog partner that answers one stub
line and ends the dialog. Pure: no I/O. Playing a 30,000-element course takes a CPU for
seconds, so the version page asks a worker process for `version_view`, which also keeps the
transcript short enough to send back and render.
"""

from __future__ import annotations

import html
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from courses.diagnostics import Diagnostic
from courses.jobs import reported
from courses.loader import load_course
from engine import step
from engine.effects import (
    AskLLM,
    Finish,
    InlineButton,
    Record,
    SendAudio,
    SendMedia,
    SendPoll,
    SendText,
)
from engine.events import (
    Button,
    Event,
    LLMReply,
    PollAnswer,
    PollSent,
    Start,
    Text,
    TimerFired,
    WebAppData,
)
from engine.model import Course
from engine.state import RunState

MAX_STEPS = 400
"""Default answers can send a course round in circles (a revision replaying the mistakes
the first option made); the preview stops here and says so."""
MAX_SHOWN_LINES = 300
"""A page with more bubbles is unreadable and slow to render; the rest is counted."""
MAX_SHOWN_WARNINGS = 100
STOP_MARKER = "{STOP}"
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Line:
    """One bubble of the transcript, or a note (`note` = i18n key, `params` for it)."""

    role: Literal["bot", "student", "note"]
    element_id: str | None = None
    text: str = ""
    media: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    score: float | None = None
    maxscore: float | None = None
    note: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Preview:
    lines: list[Line]
    finished: bool

    def shortened(self, limit: int) -> Preview:
        """The first `limit` lines, a note counting the rest, and the closing note."""
        closing = self.lines[-1:] if self.lines and self.lines[-1].role == "note" else []
        body = self.lines[: len(self.lines) - len(closing)]
        if len(body) <= limit:
            return self
        count = str(len(body) - limit)
        hidden = Line("note", note="preview.hidden", params={"count": count, "shown": str(limit)})
        return Preview([*body[:limit], hidden, *closing], self.finished)


@dataclass(frozen=True)
class VersionView:
    """What the version page shows of a version: some of its warnings (and how many there
    are) and the preview (None: the version does not load any more)."""

    warnings: tuple[Diagnostic, ...]
    warnings_total: int
    preview: Preview | None


def version_view(
    source_text: str, source_name: str, sample_text: str, dialog_reply: str
) -> VersionView:
    loaded = load_course(source_text, source_name=source_name)
    played = None
    if loaded.course is not None:
        played = play(loaded.course, sample_text=sample_text, dialog_reply=dialog_reply)
    return VersionView(
        reported(loaded.warnings, MAX_SHOWN_WARNINGS),
        len(loaded.warnings),
        played.shortened(MAX_SHOWN_LINES) if played is not None else None,
    )


def play(course: Course, *, sample_text: str, dialog_reply: str) -> Preview:
    """Play `course` to its end (or until it gets stuck or loops) with default answers."""
    return _Player(course, sample_text, dialog_reply).run()


def plain_text(text: str, parse_mode: str | None) -> str:
    """HTML courses carry tags Telegram renders; the preview shows their text only."""
    if parse_mode and parse_mode.upper().startswith("HTML"):
        return html.unescape(_TAG.sub("", text)).strip()
    return text.strip()


class _Player:
    def __init__(self, course: Course, sample_text: str, dialog_reply: str) -> None:
        self.course = course
        self.sample_text = sample_text
        self.dialog_reply = dialog_reply
        self.now = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        self.state = RunState.new()
        self.events: deque[Event] = deque([Start()])
        self.lines: list[Line] = []
        self.unclaimed: Line | None = None  # the last bot line still waiting for its Record
        self.buttons: tuple[InlineButton, ...] = ()
        self.polls = 0

    def run(self) -> Preview:
        for _ in range(MAX_STEPS):
            event = self.events.popleft() if self.events else self._default_answer()
            if event is None:
                self._note("preview.stuck")
                return Preview(self.lines, finished=False)
            self.state, effects = step(self.course, self.state, event, self.now)
            for effect in effects:
                self._execute(effect)
            if self.state.finished:
                return Preview(self.lines, finished=True)
        self._note("preview.too_long", steps=str(MAX_STEPS))
        return Preview(self.lines, finished=False)

    def _execute(self, effect: object) -> None:
        match effect:
            case SendText():
                self._bot(plain_text(effect.text, effect.parse_mode), buttons=effect.buttons)
            case SendMedia():
                caption = plain_text(effect.caption or "", effect.parse_mode)
                self._bot(caption, media=effect.urls, buttons=effect.buttons)
            case SendAudio():
                self._bot(plain_text(effect.caption or "", effect.parse_mode), media=effect.urls)
            case SendPoll():
                self.polls += 1
                line = self._bot(effect.question.strip())
                line.options = effect.options
                self.events.append(PollSent(f"preview-poll-{self.polls}", effect.ref))
            case Record(role="bot"):
                line = self.unclaimed or self._bot(effect.text.strip())
                line.element_id = effect.element_id
                line.score, line.maxscore = effect.score, effect.maxscore
                self.unclaimed = None
            case Record(role="user"):
                self.lines.append(
                    Line(
                        "student",
                        effect.element_id,
                        effect.text,
                        score=effect.score,
                        maxscore=effect.maxscore,
                    )
                )
            case AskLLM():
                self.events.append(LLMReply(f"{self.dialog_reply} {STOP_MARKER}"))
            case Finish(status=status):
                self._note("preview.finished" if status == "completed" else "preview.stopped")

    def _bot(
        self,
        text: str,
        *,
        media: tuple[str, ...] = (),
        buttons: tuple[InlineButton, ...] = (),
    ) -> Line:
        if buttons:
            self.buttons = buttons
        line = Line("bot", text=text, media=media, buttons=tuple(b.text for b in buttons))
        self.lines.append(line)
        self.unclaimed = line
        return line

    def _note(self, key: str, **params: str) -> None:
        self.lines.append(Line("note", note=key, params=params))

    def _default_answer(self) -> Event | None:
        awaiting = self.state.awaiting
        callbacks = [b for b in self.buttons if b.data is not None]
        if awaiting == "button" and callbacks:
            return Button(callbacks[0].data or "")
        if awaiting == "webapp":
            return Button(callbacks[0].data or "") if callbacks else WebAppData("{}")
        if awaiting == "poll" and self.state.poll_id is not None:
            return PollAnswer(self.state.poll_id, (0,))
        if awaiting in ("text", "dialog"):
            return Text(self.sample_text)
        if self.state.waits:
            wait = min(self.state.waits, key=lambda w: w.due_at)
            if not wait.continuation:  # the engine's own pause between batches is not shown
                self._note("preview.waited", duration=_duration(wait.due_at - self.now))
            self.now = max(self.now, wait.due_at)
            return TimerFired(wait.wait_id)
        return None


def _duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return ":".join(parts) or "0s"
