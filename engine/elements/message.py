"""message: text (+ media); waits for its `button`; legacy `options` act like jump buttons."""

from __future__ import annotations

from engine.draft import Draft, callback
from engine.effects import InlineButton
from engine.elements import choices
from engine.elements.base import Handler
from engine.model import MessageElement
from engine.outcomes import IGNORED, NEXT, WAIT, Choice, Outcome


def enter(ctx: Draft, element: MessageElement) -> Outcome:
    if element.options:
        return choices.present(ctx, element, element.text, element.options)
    if element.button:
        seq = ctx.begin_wait("button")
        ctx.show(element, element.text, (InlineButton(element.button, callback(seq, 0)),))
        return WAIT
    ctx.show(element, element.text)
    return NEXT


def react(ctx: Draft, element: MessageElement, event: object) -> Outcome:
    if element.options:
        return choices.react(ctx, element, element.options, event)
    if isinstance(event, Choice) and event.index == 0 and element.button:
        ctx.record_user(element.id, element.button)
        return NEXT
    return IGNORED


HANDLER = Handler(enter, react)
