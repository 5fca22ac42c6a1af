"""Outputs of `step()`: what the adapter must do, in order.

Effects describe intent in Telegram-neutral terms (text, media, poll, timer, LLM call); how
an album with buttons or an over-long caption is rendered is the adapter's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.state import Status


@dataclass(frozen=True, slots=True)
class InlineButton:
    """Exactly one of `data` (callback), `url` or `web_app_url` is set."""

    text: str
    data: str | None = None
    url: str | None = None
    web_app_url: str | None = None


@dataclass(frozen=True, slots=True)
class Speech:
    """How a dialog wants its replies spoken (the course's `tts_*` settings; None: the
    provider's default)."""

    model: str | None = None
    voice: str | None = None
    speed: float | None = None


@dataclass(frozen=True, slots=True)
class SendText:
    """`voice`: say it as a voice message where the adapter can synthesise speech; the
    words are the same either way, so everything that only reads them treats it as text."""

    text: str
    parse_mode: str | None
    buttons: tuple[InlineButton, ...] = ()
    link_preview: bool = True
    voice: Speech | None = None


@dataclass(frozen=True, slots=True)
class SendMedia:
    """Photos/videos; an album when there is more than one URL."""

    urls: tuple[str, ...]
    caption: str | None
    parse_mode: str | None
    buttons: tuple[InlineButton, ...] = ()


@dataclass(frozen=True, slots=True)
class SendAudio:
    urls: tuple[str, ...]
    caption: str | None
    parse_mode: str | None


@dataclass(frozen=True, slots=True)
class SendPoll:
    """A non-anonymous poll; the adapter answers with `PollSent(poll_id, ref)`."""

    ref: str
    question: str
    options: tuple[str, ...]
    kind: Literal["quiz", "regular"]
    correct_option_ids: tuple[int, ...]
    multiple: bool


@dataclass(frozen=True, slots=True)
class Schedule:
    """Deliver `TimerFired(wait_id)` at `due_at`; `goto` is where the run will continue."""

    wait_id: str
    due_at: datetime
    goto: str | None


@dataclass(frozen=True, slots=True)
class CancelWaits:
    """Drop every pending timer of this run."""


@dataclass(frozen=True, slots=True)
class Record:
    """One line of the run's conversation log (analytics, reports, dialog context).
    `answer`: the student answered the element (not a mere button press to go on); it is
    what the outside world hears of as an answer (outgoing webhooks), not part of the line."""

    element_id: str
    role: Literal["bot", "user"]
    text: str
    score: float | None = None
    maxscore: float | None = None
    answer: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class AskLLM:
    """Call the chat model; the adapter answers with `LLMReply` or `LLMFailed`."""

    element_id: str
    model: str | None
    messages: tuple[dict[str, Any], ...]
    temperature: float | None


@dataclass(frozen=True, slots=True)
class Typing:
    """Show "typing..." while the LLM works."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The run is over. `note` says why when the engine itself ended it (`halted`: see
    engine/limits.py), for the teacher; None otherwise."""

    status: Status
    note: str | None = None


Effect = (
    SendText
    | SendMedia
    | SendAudio
    | SendPoll
    | Schedule
    | CancelWaits
    | Record
    | AskLLM
    | Typing
    | Finish
)
