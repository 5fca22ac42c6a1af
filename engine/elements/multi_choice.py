"""multi_choice: regular poll with multiple answers.

Verdict: the exact set of correct options -> `feedback_correct`, score 1; no chosen option
correct -> `feedback_incorrect`, 0; anything else -> `feedback_partial`, 0.5 (maxscore 1).
The feedback of every chosen option and then the verdict go out as ONE message, so five
options do not cost five messages of Telegram's ~1 message/second per-chat budget.
"""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import polls
from engine.elements.base import Handler
from engine.model import MultiChoiceElement
from engine.outcomes import IGNORED, NEXT, Outcome


def grade(element: MultiChoiceElement, picked: tuple[int, ...]) -> tuple[float, str | None]:
    """Score and verdict text for the chosen option indexes."""
    correct = {i for i, answer in enumerate(element.answers) if answer.correct}
    chosen = set(picked)
    if chosen == correct:
        return 1.0, element.feedback_correct
    if not chosen & correct:
        return 0.0, element.feedback_incorrect
    return 0.5, element.feedback_partial


def enter(ctx: Draft, element: MultiChoiceElement) -> Outcome:
    return polls.send_poll(ctx, element, "regular", multiple=True)


def react(ctx: Draft, element: MultiChoiceElement, event: object) -> Outcome:
    picked = polls.chosen(element, event)
    if not picked:
        return IGNORED
    score, verdict = grade(element, picked)
    ctx.answer(element.id, "; ".join(element.answers[i].text for i in picked), score, 1.0)
    parts = [element.answers[i].feedback for i in picked]
    parts.append(verdict)
    message = "\n\n".join(part.strip() for part in parts if part and part.strip())
    if message:
        ctx.say(element, message)
    return NEXT


HANDLER = Handler(enter, react)
