"""`RunState`: everything the engine needs to remember about one student's run.

The runtime stores it as JSON in the `run` row between events, so it must round-trip
exactly and stay small: latest answer per element (not a full log -- the adapter keeps the
log from `Record` effects), the current dialog histories, and the one or two things the run
is waiting for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, get_args

from engine.frozen import FrozenMap

Awaiting = Literal["button", "poll", "text", "dialog", "llm", "webapp", "timer"]
AWAITING_KINDS: tuple[str, ...] = ("button", "poll", "text", "dialog", "llm", "webapp", "timer")
Status = Literal["completed", "stopped", "halted"]

_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    """The student's latest answer to an element; score/maxscore are None when unscored."""

    text: str
    score: float | None = None
    maxscore: float | None = None


@dataclass(frozen=True, slots=True)
class DialogMessage:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class PendingWait:
    """A scheduled timer; `goto` is the element the run resumes at (None: course ends).

    A `continuation` is the flow's own timer, not an element's: a step that entered as many
    elements as it may ends with one, due at once, and when it fires the run enters `goto`
    as if the step had never stopped (engine/limits.py).
    """

    wait_id: str
    due_at: datetime
    goto: str | None
    continuation: bool = False


@dataclass(frozen=True, slots=True)
class RevisionChain:
    """Mistakes still to replay (course order) and the revision element to continue after."""

    queue: tuple[str, ...]
    resume_after: str


@dataclass(frozen=True, slots=True)
class RunState:
    """Immutable run state; `step()` returns a new one.

    `seq` grows every time the engine starts waiting for a new prompt; buttons carry it so
    a press on an old message can never move the run. `poll_ref` is the ref of the
    `SendPoll` awaited, `poll_id` the Telegram id the adapter reported for it.
    `unattended` counts the steps since the student's last answer (engine/limits.py).
    """

    current: str | None = None
    awaiting: Awaiting | None = None
    seq: int = 0
    answers: FrozenMap[str, ScoredAnswer] = field(default_factory=FrozenMap)
    dialogs: FrozenMap[str, tuple[DialogMessage, ...]] = field(default_factory=FrozenMap)
    revision: RevisionChain | None = None
    waits: tuple[PendingWait, ...] = ()
    poll_ref: str | None = None
    poll_id: str | None = None
    finished: bool = False
    status: Status | None = None
    unattended: int = 0

    @classmethod
    def new(cls) -> RunState:
        """A run that has not started yet (the first `Start` event begins it)."""
        return cls()

    def replace(self, **changes: Any) -> RunState:
        return replace(self, **changes)

    # --- JSON --------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the runtime stores it in a JSONB column)."""
        return {
            "v": _FORMAT_VERSION,
            "current": self.current,
            "awaiting": self.awaiting,
            "seq": self.seq,
            "answers": {eid: [a.text, a.score, a.maxscore] for eid, a in self.answers.items()},
            "dialogs": {
                eid: [[m.role, m.text] for m in messages] for eid, messages in self.dialogs.items()
            },
            "revision": (
                None
                if self.revision is None
                else [list(self.revision.queue), self.revision.resume_after]
            ),
            "waits": [_wait_to_list(w) for w in self.waits],
            "poll_ref": self.poll_ref,
            "poll_id": self.poll_id,
            "finished": self.finished,
            "status": self.status,
            "unattended": self.unattended,
        }

    @classmethod
    def from_json(cls, text: str | bytes) -> RunState:
        """Parse `to_json` output; ValueError with a clear message on anything else."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid run state JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_row(cls, stored: dict[str, Any] | None) -> RunState:
        """A run row's `state` column: empty (`{}`) until the run's first step."""
        return cls.from_dict(stored) if stored else cls.new()

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        """Inverse of `to_dict`; ValueError with a clear message on anything else."""
        try:
            if not isinstance(data, dict) or data.get("v") != _FORMAT_VERSION:
                version = data.get("v") if isinstance(data, dict) else None
                raise ValueError(f"unsupported run state format {version!r}")
            return cls._from_fields(data)
        except (TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"invalid run state JSON: {exc}") from None

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> RunState:
        awaiting = data["awaiting"]
        if awaiting is not None and awaiting not in AWAITING_KINDS:
            raise ValueError(f"invalid run state JSON: unknown awaiting kind {awaiting!r}")
        revision = data["revision"]
        return cls(
            current=_opt_str(data["current"]),
            awaiting=awaiting,
            seq=int(data["seq"]),
            answers=FrozenMap(
                {
                    str(eid): ScoredAnswer(str(t), _opt_float(s), _opt_float(m))
                    for eid, (t, s, m) in data["answers"].items()
                }
            ),
            dialogs=FrozenMap(
                {
                    str(eid): tuple(DialogMessage(_role(r), str(t)) for r, t in messages)
                    for eid, messages in data["dialogs"].items()
                }
            ),
            revision=(
                None
                if revision is None
                else RevisionChain(tuple(str(e) for e in revision[0]), str(revision[1]))
            ),
            waits=tuple(
                PendingWait(str(w), datetime.fromisoformat(d), _opt_str(g), any(marks))
                for w, d, g, *marks in data["waits"]
            ),
            poll_ref=_opt_str(data["poll_ref"]),
            poll_id=_opt_str(data["poll_id"]),
            finished=bool(data["finished"]),
            status=data["status"] if data["status"] in get_args(Status) else None,
            unattended=int(data.get("unattended", 0)),  # states saved before it existed: 0
        )


def _wait_to_list(wait: PendingWait) -> list[Any]:
    """`[id, due, goto]`, plus `true` for a continuation (older states have three items)."""
    item: list[Any] = [wait.wait_id, wait.due_at.isoformat(), wait.goto]
    if wait.continuation:
        item.append(True)
    return item


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _role(value: Any) -> Literal["user", "assistant"]:
    if value == "user":
        return "user"
    if value == "assistant":
        return "assistant"
    raise ValueError(f"invalid run state JSON: unknown dialog role {value!r}")
