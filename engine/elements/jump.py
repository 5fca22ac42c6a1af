"""jump: text with option buttons (see `choices`)."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import choices
from engine.elements.base import Handler
from engine.model import JumpElement
from engine.outcomes import Outcome


def enter(ctx: Draft, element: JumpElement) -> Outcome:
    return choices.present(ctx, element, element.text, element.options)


def react(ctx: Draft, element: JumpElement, event: object) -> Outcome:
    return choices.react(ctx, element, element.options, event)


HANDLER = Handler(enter, react)
