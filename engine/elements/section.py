"""section: editor-only divider, skipped silently."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements.base import Handler, never_reacts
from engine.model import SectionElement
from engine.outcomes import NEXT, Outcome


def enter(ctx: Draft, element: SectionElement) -> Outcome:
    return NEXT


HANDLER = Handler(enter, never_reacts)
