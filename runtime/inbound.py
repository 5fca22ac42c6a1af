"""What a student did, as the runtime's core knows it: the meaning of an update, not its
Telegram form (adapters/telegram/updates.py translates one into the other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from engine.events import Event


class Student(NamedTuple):
    telegram_user_id: int
    username: str | None
    first_name: str | None
    language_code: str | None


@dataclass(frozen=True, slots=True)
class StartRequest:
    """`/start [payload]`: handled by enrollment, not by the engine directly."""

    payload: str | None


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """A voice message still to be transcribed (file id kept for the transcriber)."""

    file_id: str
    duration: int


CommandName = Literal["progress", "help", "restart", "stop"]


@dataclass(frozen=True, slots=True)
class Command:
    """A student command (runtime/commands.py): answered by the runtime, never given to
    the course as an answer."""

    name: CommandName


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A press on the runtime's own buttons under a `/restart` or `/stop` question:
    `command` None is "Cancel"; `run_id` is the run the question was about."""

    command: Literal["restart", "stop"] | None
    run_id: int


class Inbound(NamedTuple):
    chat_id: int
    chat_type: str
    student: Student
    action: Event | StartRequest | VoiceNote | Command | Confirmation
    callback_query_id: str | None = None
    message_id: int | None = None
