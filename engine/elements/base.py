"""The shape of an element handler: how an element starts and how it reacts to events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from engine.draft import Draft
from engine.outcomes import IGNORED, Outcome

EnterFn = Callable[[Draft, Any], Outcome]
ReactFn = Callable[[Draft, Any, object], Outcome]


class Handler(NamedTuple):
    """`enter` runs when the flow reaches the element; `react` gets events that fit what
    the run is awaiting there (already checked by `step()`)."""

    enter: EnterFn
    react: ReactFn


def never_reacts(ctx: Draft, element: Any, event: object) -> Outcome:
    """For elements that never wait: any event is out of place."""
    return IGNORED
