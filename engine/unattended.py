"""Where a run can go without any answer from the student, and the loops that makes.

One place says, per element type, whether the run can leave an element with no student
input (following the handlers in engine/elements); the loader warns about every loop of
such moves, since the bot would go round it forever (until the run is halted, see
engine/limits.py).
"""

from __future__ import annotations

from engine.model import (
    AudioElement,
    BaseElement,
    Course,
    DelayElement,
    DialogElement,
    JumpElement,
    MessageElement,
    RevisionElement,
    SectionElement,
    TestElement,
)


def next_without_input(course: Course, element: BaseElement) -> str | None:
    """The element the run can reach from `element` with no answer from the student; None
    when it waits for the student there (or the course ends)."""
    match element:
        case DelayElement(goto=goto) if not element.asks_to_continue:
            return goto or course.next_id(element.id)
        case MessageElement() if not (element.options or element.button):
            pass
        case JumpElement() if not element.options:
            pass
        case TestElement() if not element.button:
            pass
        case DialogElement() if element.auto_start:
            pass  # the model speaks first and may end the dialog at once (LLM replies count)
        case AudioElement() | SectionElement() | RevisionElement():
            pass  # a revision without mistakes to replay goes straight on
        case _:
            return None  # waits for a button, a poll, a text or the mini app; or the end
    return course.next_id(element.id)


def loops_without_input(course: Course) -> list[tuple[str, ...]]:
    """Every loop of moves without student input, once each, as element ids in the order
    the run travels them, starting with the loop's element that comes first in the course
    (so the last one jumps back to it)."""
    step = {element.id: next_without_input(course, element) for element in course.elements}
    walk_of: dict[str, int] = {}
    loops: list[tuple[str, ...]] = []
    for walk, start in enumerate(course.ids):
        path: list[str] = []
        element_id: str | None = start
        while element_id is not None and element_id not in walk_of:
            walk_of[element_id] = walk
            path.append(element_id)
            element_id = step[element_id]
        if element_id is not None and walk_of[element_id] == walk:  # came back to this walk
            loop = path[path.index(element_id) :]
            first = min(range(len(loop)), key=lambda i: course.index_of(loop[i]))
            loops.append(tuple(loop[first:] + loop[:first]))
    return loops
