"""Inputs to `step()`: what happened in the chat (or in the adapter) since the last step.

The adapter translates Telegram updates, fired timers and LLM results into these values;
the engine never sees Telegram objects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Start:
    """/start (payload = deep-link argument, already consumed by the runtime)."""

    payload: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button press; `data` is the callback data the engine put on it."""

    data: str


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class PollSent:
    """The adapter reports which Telegram poll id a `SendPoll(ref=...)` produced."""

    poll_id: str
    ref: str


@dataclass(frozen=True, slots=True)
class PollAnswer:
    poll_id: str
    option_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TimerFired:
    wait_id: str


@dataclass(frozen=True, slots=True)
class LLMReply:
    text: str


@dataclass(frozen=True, slots=True)
class LLMFailed:
    """The LLM call failed; `reason` is for logs only and never shown to the student.

    `notice` replaces the generic apology when the adapter knows better (e.g. the account's
    LLM budget is spent); `final` means retrying cannot help, so the dialog ends and the
    course goes on instead of leaving the student in a dialog nobody answers.
    """

    reason: str
    notice: str | None = None
    final: bool = False


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice message; `transcript` is None when no transcription provider is configured."""

    transcript: str | None


@dataclass(frozen=True, slots=True)
class WebAppData:
    data: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The student (or a teacher) stopped the run."""


@dataclass(frozen=True, slots=True)
class Resume:
    """The student asks to be brought back to where they are (a broadcast's "continue the
    course" button): the prompt the run waits on comes again, nothing else changes
    (engine/resume.py)."""


Event = (
    Start
    | Button
    | Text
    | PollSent
    | PollAnswer
    | TimerFired
    | LLMReply
    | LLMFailed
    | Voice
    | WebAppData
    | Stop
    | Resume
)
