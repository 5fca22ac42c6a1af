"""The shape of an element handler: how an element starts, how it reacts to events, and
how it shows the prompt it waits on again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from engine.draft import Draft
from engine.outcomes import IGNORED, Outcome

EnterFn = Callable[[Draft, Any], Outcome]
ReactFn = Callable[[Draft, Any, object], Outcome]


class Handler(NamedTuple):
    """`enter` runs when the flow reaches the element; `react` gets events that fit what
    the run is awaiting there (already checked by `step()`). `again` presents the prompt
    the run waits on there once more (engine/resume.py); None: entering the element does
    exactly that, as it does for every element whose prompt is the one it sends on entry."""

    enter: EnterFn
    react: ReactFn
    again: EnterFn | None = None


def never_reacts(ctx: Draft, element: Any, event: object) -> Outcome:
    """For elements that never wait: any event is out of place."""
    return IGNORED
