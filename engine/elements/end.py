"""end: optional final text, then the run is completed."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements.base import Handler, never_reacts
from engine.model import EndElement
from engine.outcomes import FINISHED, Outcome


def enter(ctx: Draft, element: EndElement) -> Outcome:
    if element.text:
        ctx.show(element, element.text)
    ctx.finish("completed")
    return FINISHED


HANDLER = Handler(enter, never_reacts)
