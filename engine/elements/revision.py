"""revision: replay the elements with `prefix` whose latest score is 0.

With mistakes: send `text` (with the optional button, waiting for it), then replay them in
course order; their new answers replace the old ones, and after the last one the run goes
on with the element after the revision. Without mistakes: send `no_mistakes` and go on.
"""

from __future__ import annotations

from engine.draft import Draft, callback
from engine.effects import InlineButton
from engine.elements.base import Handler
from engine.model import RevisionElement
from engine.outcomes import IGNORED, NEXT, WAIT, Choice, Outcome, Replay
from engine.state import RevisionChain


def mistakes(ctx: Draft, prefix: str) -> tuple[str, ...]:
    return tuple(
        element.id
        for element in ctx.course.elements
        if element.id.startswith(prefix)
        and (answer := ctx.answers.get(element.id)) is not None
        and answer.maxscore is not None
        and answer.score == 0
    )


def _replay(ctx: Draft, element: RevisionElement, chain: tuple[str, ...]) -> Outcome:
    ctx.revision = RevisionChain(chain[1:], element.id)
    return Replay(chain[0])


def enter(ctx: Draft, element: RevisionElement) -> Outcome:
    chain = mistakes(ctx, element.prefix)
    if not chain:
        ctx.show(element, element.no_mistakes)
        return NEXT
    if element.button:
        seq = ctx.begin_wait("button")
        ctx.show(element, element.text, (InlineButton(element.button, callback(seq, 0)),))
        return WAIT
    ctx.show(element, element.text)
    return _replay(ctx, element, chain)


def react(ctx: Draft, element: RevisionElement, event: object) -> Outcome:
    if not (isinstance(event, Choice) and event.index == 0 and element.button):
        return IGNORED
    ctx.record_user(element.id, element.button)
    chain = mistakes(ctx, element.prefix)
    return _replay(ctx, element, chain) if chain else NEXT


HANDLER = Handler(enter, react)
