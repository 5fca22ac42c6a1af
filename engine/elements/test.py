"""test: score summary over the latest answers of scored elements whose id has `prefix`.

error% = (maxscore - score) / maxscore * 100; the verdict is the first `score` entry, in
ascending threshold order, whose threshold >= error%. With nothing scored yet error% is
100 (nothing was earned). ``{score}``/``{maxscore}`` are filled in (whole numbers without
".0") and the verdict follows the text after a blank line, in one message.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.draft import Draft, callback
from engine.effects import InlineButton
from engine.elements.base import Handler
from engine.model import Course, TestElement
from engine.outcomes import IGNORED, NEXT, WAIT, Choice, Outcome
from engine.state import ScoredAnswer


def totals(course: Course, answers: Mapping[str, ScoredAnswer], prefix: str) -> tuple[float, float]:
    score = maxscore = 0.0
    for element in course.elements:
        answer = answers.get(element.id)
        if element.id.startswith(prefix) and answer is not None and answer.maxscore is not None:
            score += answer.score or 0.0
            maxscore += answer.maxscore
    return score, maxscore


def error_percent(score: float, maxscore: float) -> float:
    return (maxscore - score) / maxscore * 100 if maxscore > 0 else 100.0


def verdict(thresholds: Mapping[int, str], errors: float) -> str | None:
    for threshold, text in sorted(thresholds.items()):
        if errors <= threshold:
            return text
    return None


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def render(element: TestElement, score: float, maxscore: float) -> str:
    chosen = verdict(element.score, error_percent(score, maxscore))
    text = element.text.rstrip() + (f"\n\n{chosen.strip()}" if chosen else "")
    return text.replace("{score}", format_number(score)).replace(
        "{maxscore}", format_number(maxscore)
    )


def enter(ctx: Draft, element: TestElement) -> Outcome:
    score, maxscore = totals(ctx.course, ctx.answers, element.prefix)
    text = render(element, score, maxscore)
    if element.button:
        seq = ctx.begin_wait("button")
        button = (InlineButton(element.button, callback(seq, 0)),)
        ctx.show(element, text, button, score=score, maxscore=maxscore)
        return WAIT
    ctx.show(element, text, score=score, maxscore=maxscore)
    return NEXT


def react(ctx: Draft, element: TestElement, event: object) -> Outcome:
    if isinstance(event, Choice) and event.index == 0 and element.button:
        ctx.record_user(element.id, element.button)
        return NEXT
    return IGNORED


HANDLER = Handler(enter, react)
