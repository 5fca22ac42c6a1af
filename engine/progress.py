"""What a run's state means outside the engine: where the run is, how far it got, its score
so far, and what it waits for.

`RunState` and its JSON are the engine's own business (engine/state.py); delivery, the
panel, analytics and the players ask here instead of reading its fields or JSON keys, so
the state can change shape in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.elements.test import totals
from engine.model import Course, Element
from engine.state import PendingWait, RunState

WaitingKind = Literal[
    "button", "miniapp", "text", "dialog", "poll", "timer", "llm", "nothing", "finished"
]


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the run waits for.

    `button`: a press of one of the newest callback buttons. `miniapp`: the mini app's data
    or its "continue" button. `text`: a typed answer (an input's). `dialog`: the student's
    turn in a dialog with the chat model (a message, typed or spoken). `poll`: an answer to
    the newest poll. `timer`: `timer` falling due, the
    earliest pending one. `llm`: the chat model's reply. `nothing`: the run has not started
    (or waits for nothing it could be given). `finished`: the run is over.
    """

    kind: WaitingKind
    timer: PendingWait | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the run got: `done` elements of `total` lie before its position in course
    order (all of them once it is finished)."""

    done: int
    total: int

    @property
    def percent(self) -> int:
        """Whole percent done, rounded down: 100 only once the run is through."""
        return 100 * self.done // self.total if self.total else 100


def progress_at(index: int | None, total: int, *, finished: bool, started: bool) -> Progress | None:
    """The progress of a run at element `index` of `total` (None: not in that version).

    The one rule for both `progress` and the panel, which reads a run's index from the
    stored course elements instead of building the course and parsing the state.
    """
    if finished:
        return Progress(total, total)
    if not started:
        return Progress(0, total)
    return None if index is None else Progress(index, total)


@dataclass(frozen=True, slots=True)
class Score:
    """The latest answers' scores summed over the course's scored elements."""

    score: float
    maxscore: float


_KINDS: dict[str, WaitingKind] = {
    "button": "button",
    "webapp": "miniapp",
    "text": "text",
    "dialog": "dialog",
    "poll": "poll",
    "timer": "timer",
    "llm": "llm",
}


def position(state: RunState) -> str | None:
    """The id of the element the run is at (None: not started yet)."""
    return state.current


def current_element(course: Course, state: RunState) -> Element | None:
    """The element the run is at, if `course` has it (a state of another version may not)."""
    current = state.current
    return course.get(current) if current is not None and current in course else None


def progress(course: Course, state: RunState) -> Progress | None:
    """How far the run got in `course`; None when its position is not in `course`."""
    current = state.current
    index = course.index_of(current) if current is not None and current in course else None
    return progress_at(
        index, len(course.elements), finished=state.finished, started=current is not None
    )


def score(course: Course, state: RunState) -> Score:
    """Score and max score so far: the latest answer of every scored element of `course`
    (the sum a `test` element with an empty prefix would show)."""
    earned, maximum = totals(course, state.answers, "")
    return Score(earned, maximum)


def waiting_for(state: RunState) -> Waiting:
    """What the run waits for (see `Waiting`)."""
    if state.finished:
        return Waiting("finished")
    kind = _KINDS.get(state.awaiting or "")
    if (kind is None or kind == "timer") and state.waits:
        return Waiting("timer", min(state.waits, key=lambda wait: wait.due_at))
    return Waiting(kind or "nothing")
