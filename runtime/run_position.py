"""Where a run stands after the journal applied an event to it."""

from __future__ import annotations

from typing import NamedTuple


class RunPosition(NamedTuple):
    """Where a run stands after a step (mirrored into the bot's FSM storage)."""

    run_id: int
    element: str | None
    finished: bool
