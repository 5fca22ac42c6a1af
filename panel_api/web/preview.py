"""A read-only preview of a course: the engine plays it with default answers, and the
transcript is what a student would have seen.

The engine's in-memory playthrough (engine/playthrough.py, what the Telegram adapter does
with effects), with a student who always takes the first button or poll option, types a
fixed sample text, never waits (timers fire at once) and a dialog partner that answers one
stub line and ends the dialog; the preview adds the transcript. Pure: no I/O. Playing a
30,000-element course takes a CPU for seconds, so the version page asks a worker process for
`version_view`, which also keeps the transcript short enough to send back and render.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from courses.diagnostics import Diagnostic
from courses.jobs import reported
from courses.loader import load_course
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
)
from engine.events import Button, Event, LLMReply, Text, TimerFired, WebAppData
from engine.model import Course, format_duration
from engine.personal_texts import Student
from engine.playthrough import Playthrough, drive
from engine.progress import Waiting

MAX_STEPS = 400
"""Default answers can send a course round in circles (a revision replaying the mistakes
the first option made); the preview stops here and says so."""
MAX_SHOWN_LINES = 300
"""A page with more bubbles is unreadable and slow to render; the rest is counted."""
MAX_SHOWN_WARNINGS = 100
STOP_MARKER = "{STOP}"
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
"""The preview's simulated clock starts here (only the waits' lengths are shown)."""
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
    source_text: str, source_name: str, sample_text: str, dialog_reply: str, sample_name: str
) -> VersionView:
    loaded = load_course(source_text, source_name=source_name)
    played = None
    if loaded.course is not None:
        played = play(
            loaded.course,
            sample_text=sample_text,
            dialog_reply=dialog_reply,
            student=Student(first_name=sample_name),
        )
    return VersionView(
        reported(loaded.warnings, MAX_SHOWN_WARNINGS),
        len(loaded.warnings),
        played.shortened(MAX_SHOWN_LINES) if played is not None else None,
    )


def play(
    course: Course, *, sample_text: str, dialog_reply: str, student: Student | None = None
) -> Preview:
    """Play `course` to its end (or until it gets stuck or loops) with default answers, as
    `student` (personal texts show their names)."""
    return _Player(course, sample_text, dialog_reply, student).run()


def plain_text(text: str, parse_mode: str | None) -> str:
    """HTML courses carry tags Telegram renders; the preview shows their text only."""
    if parse_mode and parse_mode.upper().startswith("HTML"):
        return html.unescape(_TAG.sub("", text)).strip()
    return text.strip()


class _Player:
    """The preview's chat: a transcript of what the playthrough shows, and a student who
    gives the default answers."""

    def __init__(
        self, course: Course, sample_text: str, dialog_reply: str, student: Student | None
    ) -> None:
        self.sample_text = sample_text
        self.dialog_reply = dialog_reply
        self.playthrough = Playthrough(
            course, START, show=self._show, chat_model=self._dialog_partner, student=student
        )
        self.lines: list[Line] = []
        self.unclaimed: Line | None = None  # the last bot line still waiting for its Record

    def run(self) -> Preview:
        ending = drive(self.playthrough, self._default_answer, max_steps=MAX_STEPS)
        if ending == "stuck":
            self._note("preview.stuck")
        elif ending == "too_long":
            self._note("preview.too_long", steps=str(MAX_STEPS))
        return Preview(self.lines, finished=ending == "finished")

    def _show(self, effect: Effect) -> None:
        match effect:
            case SendText():
                self._bot(plain_text(effect.text, effect.parse_mode), buttons=effect.buttons)
            case SendMedia():
                caption = plain_text(effect.caption or "", effect.parse_mode)
                self._bot(caption, media=effect.urls, buttons=effect.buttons)
            case SendAudio():
                self._bot(plain_text(effect.caption or "", effect.parse_mode), media=effect.urls)
            case SendPoll():
                line = self._bot(effect.question.strip())
                line.options = effect.options
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
            case Finish(status=status):
                self._note("preview.finished" if status == "completed" else "preview.stopped")

    def _dialog_partner(self, request: AskLLM) -> LLMReply:
        """One stub line, and the dialog ends."""
        return LLMReply(f"{self.dialog_reply} {STOP_MARKER}")

    def _bot(
        self,
        text: str,
        *,
        media: tuple[str, ...] = (),
        buttons: tuple[InlineButton, ...] = (),
    ) -> Line:
        line = Line("bot", text=text, media=media, buttons=tuple(b.text for b in buttons))
        self.lines.append(line)
        self.unclaimed = line
        return line

    def _note(self, key: str, **params: str) -> None:
        self.lines.append(Line("note", note=key, params=params))

    def _default_answer(self, waiting: Waiting) -> Event | None:
        callbacks = self.playthrough.callbacks
        match waiting.kind:
            case "button" if callbacks:
                return Button(callbacks[0].data or "")
            case "miniapp":
                return Button(callbacks[0].data or "") if callbacks else WebAppData("{}")
            case "poll":
                return self.playthrough.poll_answer((0,))
            case "text" | "dialog":
                return Text(self.sample_text)
            case "timer" if waiting.timer is not None:
                wait = waiting.timer
                if not wait.continuation:  # the engine's own pause between batches is not shown
                    left = wait.due_at - self.playthrough.now
                    self._note("preview.waited", duration=format_duration(left))
                return TimerFired(wait.wait_id)
        return None
