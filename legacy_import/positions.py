"""Where an old run stands, as an engine `RunState` the runtime can carry on from.

The old bot's place for a student is the element of the run's last conversation row; its
answers are the `user` rows (the latest per element, with score/maxscore). From there:
- a pending delay becomes the engine's own timer: at a `delay` element, the wait that
  element schedules (so it fires once, at the old due time, and goes where the delay goes);
  at any other element, a flow continuation to the element the old bot would resume at;
- an element that waits for typed text (input, dialog) is left waiting for it: the student
  already has the question and simply answers;
- an element that waits for a button, poll or mini app is entered again at once (a
  continuation due now): the old bot's buttons and polls carry data this bot cannot read, so
  the student gets the same prompt anew, with controls that work.
`Draft`, `flow` and the handlers are the engine's pure functions; nothing here is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.draft import Draft
from engine.elements import handler_for
from engine.frozen import FrozenMap
from engine.model import Course, DelayElement, EndElement
from engine.outcomes import WAIT
from engine.state import DialogMessage, PendingWait, RunState, ScoredAnswer
from legacy_import.legacy_db import LegacyLine

_ANSWERED_BY_TYPING = ("text", "dialog")


class Unplaceable(ValueError):
    """The run's place does not exist in the imported course."""


@dataclass(frozen=True)
class Position:
    state: RunState
    finished: bool  # the old run stands on an `end` element: it is over


@dataclass(frozen=True)
class PendingDelay:
    element_id: str | None
    due_at: datetime


def answers_of(course: Course, lines: Sequence[LegacyLine]) -> FrozenMap[str, ScoredAnswer]:
    answers: dict[str, ScoredAnswer] = {}
    for line in lines:
        if line.role == "user" and line.element_id is not None and line.element_id in course:
            answers[line.element_id] = ScoredAnswer(line.report or "", line.score, line.maxscore)
    return FrozenMap(answers)


def place(
    course: Course,
    lines: Sequence[LegacyLine],
    delay: PendingDelay | None,
    now: datetime,
) -> Position:
    """The state of an active run whose history is `lines` (in order)."""
    current = next((ln.element_id for ln in reversed(lines) if ln.element_id), None)
    if delay is not None and current is None:
        current = delay.element_id
    if current is None:
        raise Unplaceable("the run has no conversation yet")
    if current not in course:
        raise Unplaceable(f"element {current!r} is not in the course")
    base = RunState(current=current, answers=answers_of(course, lines))
    element = course.get(current)
    if delay is not None:
        return Position(_delayed(course, base, delay), finished=False)
    if isinstance(element, EndElement):
        return Position(base.replace(finished=True, status="completed"), finished=True)
    draft = Draft(course, base, now)
    draft.move_to(current)
    outcome = handler_for(element).enter(draft, element)
    entered, _ = draft.result()  # what entering it would send, the old bot already sent
    if outcome is WAIT and entered.awaiting in _ANSWERED_BY_TYPING and not entered.waits:
        return Position(_with_dialog(entered, current, lines), finished=False)
    return Position(_continuation(base, current, now), finished=False)


def _delayed(course: Course, base: RunState, delay: PendingDelay) -> RunState:
    target = delay.element_id
    if target is None or target not in course:
        raise Unplaceable(f"the pending delay names element {target!r}, not in the course")
    element = course.get(target)
    if isinstance(element, DelayElement):
        goto = target if element.asks_to_continue else element.goto or course.next_id(target)
        wait = PendingWait("w1", delay.due_at, goto)
        return base.replace(current=target, awaiting="timer", seq=1, waits=(wait,))
    return _continuation(base, target, delay.due_at)


def _continuation(base: RunState, target: str, due_at: datetime) -> RunState:
    wait = PendingWait("w1", due_at, target, continuation=True)
    return base.replace(awaiting="timer", seq=1, waits=(wait,))


def _with_dialog(state: RunState, element_id: str, lines: Sequence[LegacyLine]) -> RunState:
    """A dialog keeps what was said in it after its opening text."""
    if state.awaiting != "dialog":
        return state
    said = [ln for ln in lines if ln.element_id == element_id and ln.role in ("user", "assistant")]
    history = state.dialogs.get(element_id, ()) + tuple(
        DialogMessage("user" if ln.role == "user" else "assistant", ln.report or "")
        for ln in said[1:]
    )
    return state.replace(dialogs=state.dialogs.set(element_id, history))
