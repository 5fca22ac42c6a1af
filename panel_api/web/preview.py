"""The course preview and simulator: the engine plays a course in memory, and the transcript
is what a student would have seen.

The engine's in-memory playthrough (engine/playthrough.py, what the Telegram adapter does
with effects) with a dialog partner that answers one stub line and ends the dialog (no
language model is ever called from the panel). `play` is the quick run-through on the
version page: a student who always takes the first button or poll option, types a fixed
sample text and never waits. `simulate` is the interactive simulator: the person trying the
course chooses every answer, fires timers when they like and may start at any element; it
replays the list of their actions from the start each time (the engine is deterministic,
so the same actions give the same chat), which keeps the panel free of per-user state.
Pure: no I/O. Playing a 30,000-element course takes a CPU for seconds, so the pages ask a
worker process for `version_view` / `simulate`, which also keep the transcript short enough
to send back and render. Message texts stay as the course wrote them, with their parse mode:
the page renders Telegram's formatting through the `telegram` filter (telegram_html.py).
"""

from __future__ import annotations

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
from engine.events import Button, Event, LLMReply, Start, Text, TimerFired, WebAppData
from engine.model import Course, format_duration
from engine.personal_texts import Student
from engine.playthrough import Playthrough, drive
from engine.progress import Waiting
from engine.state import PendingWait

MAX_STEPS = 400
"""Default answers can send a course round in circles (a revision replaying the mistakes
the first option made); the preview stops here and says so."""
MAX_SHOWN_LINES = 300
"""A page with more bubbles is unreadable and slow to render; the rest is counted."""
MAX_SHOWN_WARNINGS = 100
STOP_MARKER = "{STOP}"
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
"""The preview's simulated clock starts here (only the waits' lengths are shown)."""
MAX_ACTIONS = 80
"""The simulator's actions kept per session: enough to walk a long course by hand, small
enough for a signed form field and a quick replay."""
MAX_TYPED = 500
"""Characters of one typed answer in the simulator."""
MAX_START_CHOICES = 2000
"""Elements offered as starting points (a huge course lists its first ones)."""


@dataclass
class Line:
    """One bubble of the transcript, or a note (`note` = i18n key, `params` for it)."""

    role: Literal["bot", "student", "note"]
    element_id: str | None = None
    text: str = ""
    parse_mode: str | None = None
    media: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    multiple: bool = False
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


Action = tuple[str, str]
"""One thing the simulator's student does: ("button", index among the buttons that answer),
("poll", comma-separated option indexes), ("text", what they typed), ("webapp", "") the mini
app sending its (empty) data, or ("fire", "") the next pending timer."""


@dataclass(frozen=True)
class Offer:
    """What the simulated run lets the student do now: press one of `buttons`, answer the
    poll's `options` (several at once when `multiple`), type (`kind` text or dialog: the
    student may always type, the bot then says what it waits for), or fire the timer due
    after `timer` (a duration as authors write it)."""

    kind: str
    buttons: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    multiple: bool = False
    timer: str | None = None


@dataclass(frozen=True)
class Simulation:
    """The simulator's chat after `actions` (those that fitted: an action that did not fit
    what the run waited for is dropped and `accepted` is False)."""

    lines: list[Line]
    offer: Offer
    finished: bool
    actions: tuple[Action, ...]
    accepted: bool
    start: str | None
    elements: tuple[str, ...]


def simulate(
    source_text: str,
    source_name: str,
    start: str | None,
    actions: tuple[Action, ...],
    dialog_reply: str,
    sample_name: str = "",
) -> Simulation | None:
    """Play the course from `start` (None: its first element) through `actions`, the last of
    which is the one just taken, as a student called `sample_name` (personal texts show it);
    None when the version does not load any more."""
    course = load_course(source_text, source_name=source_name).course
    if course is None:
        return None
    player = _Player(course, "", dialog_reply, Student(first_name=sample_name or None))
    if start is not None and start in course:
        player.playthrough.start_at(start)
    else:
        start = None
        player.playthrough.send(Start())
    player.settle()
    kept: list[Action] = []
    accepted = True
    for action in actions[:MAX_ACTIONS]:
        event = player.event_for(action)
        accepted = event is not None
        if event is None:
            continue
        kept.append(action)
        player.playthrough.send(event)
        player.settle()
    lines = player.lines[-MAX_SHOWN_LINES:]
    return Simulation(
        lines,
        player.offer(),
        player.playthrough.finished,
        tuple(kept),
        accepted,
        start,
        tuple(element.id for element in course.elements[:MAX_START_CHOICES]),
    )


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
                self._bot(effect.text.strip(), effect.parse_mode, buttons=effect.buttons)
            case SendMedia():
                caption = (effect.caption or "").strip()
                self._bot(caption, effect.parse_mode, media=effect.urls, buttons=effect.buttons)
            case SendAudio():
                self._bot((effect.caption or "").strip(), effect.parse_mode, media=effect.urls)
            case SendPoll():
                line = self._bot(effect.question.strip(), None)
                line.options, line.multiple = effect.options, effect.multiple
            case Record(role="bot"):
                line = self.unclaimed or self._bot(effect.text.strip(), None)
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
        parse_mode: str | None,
        *,
        media: tuple[str, ...] = (),
        buttons: tuple[InlineButton, ...] = (),
    ) -> Line:
        line = Line(
            "bot",
            text=text,
            parse_mode=parse_mode,
            media=media,
            buttons=tuple(b.text for b in buttons),
        )
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

    # --- the simulator's student ----------------------------------------------------------

    def settle(self) -> None:
        """Fire the engine's own pauses between batches: no student ever sees them."""
        for _ in range(MAX_STEPS):
            waiting = self.playthrough.waiting_for()
            if waiting.kind != "timer" or waiting.timer is None or not waiting.timer.continuation:
                return
            self.playthrough.send(TimerFired(waiting.timer.wait_id))

    def _next_timer(self) -> PendingWait | None:
        if self.playthrough.finished:
            return None
        waits = sorted(self.playthrough.state.waits, key=lambda wait: wait.due_at)
        return waits[0] if waits else None

    def offer(self) -> Offer:
        waiting = self.playthrough.waiting_for()
        timer = self._next_timer()
        left = format_duration(timer.due_at - self.playthrough.now) if timer else None
        match waiting.kind:
            case "button" | "miniapp":
                labels = tuple(button.text for button in self.playthrough.callbacks)
                return Offer(waiting.kind, buttons=labels, timer=left)
            case "poll" if self.playthrough.poll is not None:
                poll = self.playthrough.poll
                return Offer("poll", options=poll.options, multiple=poll.multiple, timer=left)
        return Offer(waiting.kind, timer=left)

    def event_for(self, action: Action) -> Event | None:
        """The event `action` stands for now, or None if it does not fit the run."""
        kind, value = action
        waiting = self.playthrough.waiting_for()
        if waiting.kind == "finished":
            return None
        match kind:
            case "button" if waiting.kind in ("button", "miniapp") and value.isdigit():
                callbacks = self.playthrough.callbacks
                index = int(value)
                return Button(callbacks[index].data or "") if index < len(callbacks) else None
            case "poll" if waiting.kind == "poll" and self.playthrough.poll is not None:
                return self._poll_answer(self.playthrough.poll, value)
            case "webapp" if waiting.kind == "miniapp":
                return WebAppData("{}")
            case "text" if 0 < len(value) <= MAX_TYPED:
                return Text(value)
            case "fire":
                timer = self._next_timer()
                if timer is None:
                    return None
                if not timer.continuation:
                    left = timer.due_at - self.playthrough.now
                    self._note("preview.waited", duration=format_duration(left))
                return TimerFired(timer.wait_id)
        return None

    def _poll_answer(self, poll: SendPoll, value: str) -> Event | None:
        try:
            chosen = tuple(sorted({int(part) for part in value.split(",") if part}))
        except ValueError:
            return None
        if not chosen or any(not 0 <= index < len(poll.options) for index in chosen):
            return None
        if len(chosen) > 1 and not poll.multiple:
            return None
        return self.playthrough.poll_answer(chosen)
