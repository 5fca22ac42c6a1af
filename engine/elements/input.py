"""input: free-text answer, optionally checked against `correct_answer`.

`input_type: text` compares trimmed, case-insensitive, with runs of spaces collapsed;
`sequence` compares only the digits ("3,1 6" == "316"). Scored 1/0 only when there is a
`correct_answer`; without one the answer is unscored and `feedback_correct` (if any) thanks
the student.
"""

from __future__ import annotations

from engine.draft import Draft
from engine.elements.base import Handler
from engine.events import Text
from engine.model import InputElement
from engine.outcomes import IGNORED, NEXT, WAIT, Outcome

_DIGITS = frozenset("0123456789")


def normalise(text: str, input_type: str) -> str:
    if input_type == "sequence":
        return "".join(ch for ch in text if ch in _DIGITS)
    return " ".join(text.split()).casefold()


def is_correct(text: str, correct_answer: str, input_type: str) -> bool:
    return normalise(text, input_type) == normalise(correct_answer, input_type)


def enter(ctx: Draft, element: InputElement) -> Outcome:
    ctx.begin_wait("text")
    ctx.show(element, element.text)
    return WAIT


def react(ctx: Draft, element: InputElement, event: object) -> Outcome:
    if not isinstance(event, Text):
        return IGNORED
    if element.correct_answer is None:
        ctx.answer(element.id, event.text)
        feedback = element.feedback_correct
    elif is_correct(event.text, element.correct_answer, element.input_type):
        ctx.answer(element.id, event.text, 1.0, 1.0)
        feedback = element.feedback_correct
    else:
        ctx.answer(element.id, event.text, 0.0, 1.0)
        feedback = element.feedback_incorrect
    if feedback:
        ctx.say(element, feedback)
    return NEXT


HANDLER = Handler(enter, react)
