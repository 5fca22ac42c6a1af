"""quiz: Telegram quiz poll (media before it); feedback of the chosen answer; score 1/0."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import polls
from engine.elements.base import Handler
from engine.model import QuizElement
from engine.outcomes import IGNORED, NEXT, Outcome


def right_answer(element: QuizElement) -> int | None:
    """The index of the answer that scores: the last one marked correct, as the old bot
    scored quizzes that mark several (the loader warns about those)."""
    marked = [i for i, answer in enumerate(element.answers) if answer.correct]
    return marked[-1] if marked else None


def enter(ctx: Draft, element: QuizElement) -> Outcome:
    right = right_answer(element)
    # Telegram refuses a quiz without a correct option; such a course only gets here if
    # built by hand, and then a regular poll still lets the student go on.
    if right is None:
        return polls.send_poll(ctx, element, "regular", ())
    return polls.send_poll(ctx, element, "quiz", (right,))


def react(ctx: Draft, element: QuizElement, event: object) -> Outcome:
    picked = polls.chosen(element, event)
    if not picked:
        return IGNORED
    answer = element.answers[picked[0]]
    ctx.answer(element.id, answer.text, 1.0 if picked[0] == right_answer(element) else 0.0, 1.0)
    if answer.feedback:
        ctx.say(element, answer.feedback)
    return NEXT


HANDLER = Handler(enter, react)
