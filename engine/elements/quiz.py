"""quiz: Telegram quiz poll (media before it); feedback of the chosen answer; score 1/0."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import polls
from engine.elements.base import Handler
from engine.model import QuizElement
from engine.outcomes import IGNORED, NEXT, Outcome


def enter(ctx: Draft, element: QuizElement) -> Outcome:
    correct = tuple(i for i, answer in enumerate(element.answers) if answer.correct)
    # Telegram refuses a quiz without a correct option; such a course only gets here if
    # built by hand, and then a regular poll still lets the student go on.
    return polls.send_poll(ctx, element, "quiz" if correct else "regular", correct)


def react(ctx: Draft, element: QuizElement, event: object) -> Outcome:
    picked = polls.chosen(element, event)
    if not picked:
        return IGNORED
    answer = element.answers[picked[0]]
    ctx.answer(element.id, answer.text, 1.0 if answer.correct else 0.0, 1.0)
    if answer.feedback:
        ctx.say(element, answer.feedback)
    return NEXT


HANDLER = Handler(enter, react)
