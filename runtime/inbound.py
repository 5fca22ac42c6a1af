"""What a student did, as the runtime's core knows it: the meaning of an update, not its
Telegram form (adapters/telegram/updates.py translates one into the other)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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


class Inbound(NamedTuple):
    chat_id: int
    chat_type: str
    student: Student
    action: Event | StartRequest | VoiceNote
    callback_query_id: str | None = None
    message_id: int | None = None
