"""The runs' parsed states this process last read or wrote, by chat.

Every step needs its run's state, a JSON document that grows with the course (an answer per
element); parsing it was a tenth of an update's CPU (docs/benchmarks.md). The database
counts each write of a state (`run.state_version`), so the journal tells PostgreSQL which
run and version it holds, gets the state back only when that is no longer current (another
runner, a timer, the panel wrote it), and otherwise reuses the parsed one. Entries are
replaced only after their batch committed, so an entry never runs ahead of the database.

An entry also lets an idle chat's next update be stepped before anything is read: the
journal writes that step with a guard on the version (`Batch.run_alone`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from engine.state import RunState
from storage.batch import ActiveRun, ChatKey

DEFAULT_CAPACITY = 10_000


class KnownState(NamedTuple):
    """`run`: the run's row as last locked, at the state version of `state` (its `state`
    column left out: `state` is the parsed one)."""

    run: ActiveRun
    state: RunState


class StateCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._states: OrderedDict[ChatKey, KnownState] = OrderedDict()

    def get(self, chat: ChatKey) -> KnownState | None:
        return self._states.get(chat)

    def put(self, chat: ChatKey, known: KnownState | None) -> None:
        """Remember the chat's run state (None: forget it, e.g. the run finished)."""
        if known is None:
            self._states.pop(chat, None)
            return
        self._states[chat] = known
        self._states.move_to_end(chat)
        if len(self._states) > self._capacity:
            self._states.popitem(last=False)
