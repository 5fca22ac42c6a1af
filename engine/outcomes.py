"""What an element handler tells the flow after `enter` or `react`, plus the internal
events `step()` derives from raw events once they passed the generic checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from engine.state import PendingWait


class Halt(Enum):
    """The run stays where the handler left it."""

    WAIT = "wait"  # the handler started waiting for a new prompt (`Draft.begin_wait`)
    FINISHED = "finished"  # the run ended (end element)
    IGNORED = "ignored"  # the event does not fit: state and effects are discarded


WAIT = Halt.WAIT
FINISHED = Halt.FINISHED
IGNORED = Halt.IGNORED


@dataclass(frozen=True, slots=True)
class Next:
    """Continue with the following element (or the next mistake of a revision chain)."""


NEXT = Next()


@dataclass(frozen=True, slots=True)
class Goto:
    """Jump to `target` (None: the course is over); leaves any revision chain."""

    target: str | None


@dataclass(frozen=True, slots=True)
class Replay:
    """Enter `target` keeping the revision chain as it stands: the one the handler just set
    up, or the one a continuation carried over to the next step."""

    target: str


Outcome = Halt | Next | Goto | Replay


@dataclass(frozen=True, slots=True)
class Choice:
    """A button press whose callback data carried the current seq; `index` is unchecked."""

    index: int


@dataclass(frozen=True, slots=True)
class Fired:
    """A pending timer of this run fired (already removed from the pending waits)."""

    wait: PendingWait
