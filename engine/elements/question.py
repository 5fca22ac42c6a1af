"""question: regular poll without a right answer; feedback of the chosen option; unscored."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import polls
from engine.elements.base import Handler
from engine.model import QuestionElement
from engine.outcomes import IGNORED, NEXT, Outcome


def enter(ctx: Draft, element: QuestionElement) -> Outcome:
    return polls.send_poll(ctx, element, "regular")


def react(ctx: Draft, element: QuestionElement, event: object) -> Outcome:
    picked = polls.chosen(element, event)
    if not picked:
        return IGNORED
    answer = element.answers[picked[0]]
    ctx.answer(element.id, answer.text)
    if answer.feedback:
        ctx.say(element, answer.feedback)
    return NEXT


HANDLER = Handler(enter, react)
