"""Telegram updates -> what the student did, in engine terms.

Only the handful of update kinds a course reacts to are translated; anything else (edited
messages, stickers, channel posts, hostile junk) becomes None and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import Update

from engine.events import Button, Event, PollAnswer, Text, WebAppData

START_COMMAND = "/start"


@dataclass(frozen=True, slots=True)
class Student:
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


@dataclass(frozen=True, slots=True)
class Inbound:
    chat_id: int
    chat_type: str
    student: Student
    action: Event | StartRequest | VoiceNote
    callback_query_id: str | None = None
    message_id: int | None = None


def _student(user: object) -> Student:
    return Student(
        telegram_user_id=user.id,  # type: ignore[attr-defined]
        username=getattr(user, "username", None),
        first_name=getattr(user, "first_name", None),
        language_code=getattr(user, "language_code", None),
    )


def _start_payload(text: str) -> StartRequest | None:
    command, _, payload = text.strip().partition(" ")
    name = command.split("@", 1)[0]
    if name != START_COMMAND:
        return None
    return StartRequest(payload.strip() or None)


def translate(update: Update) -> Inbound | None:
    """What this update means for a course, or None when it means nothing."""
    if update.message is not None:
        message = update.message
        if message.from_user is None or message.from_user.is_bot:
            return None
        base = {
            "chat_id": message.chat.id,
            "chat_type": message.chat.type,
            "student": _student(message.from_user),
            "message_id": message.message_id,
        }
        action: Event | StartRequest | VoiceNote | None = None
        if message.text is not None:
            action = _start_payload(message.text) or Text(message.text)
        elif message.voice is not None:
            action = VoiceNote(message.voice.file_id, message.voice.duration)
        elif message.web_app_data is not None:
            action = WebAppData(message.web_app_data.data)
        return Inbound(action=action, **base) if action is not None else None

    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        if message is None or query.data is None:
            return None
        return Inbound(
            chat_id=message.chat.id,
            chat_type=message.chat.type,
            student=_student(query.from_user),
            action=Button(query.data),
            callback_query_id=query.id,
            message_id=message.message_id,
        )

    if update.poll_answer is not None:
        answer = update.poll_answer
        if answer.user is None:
            return None
        # Course polls are sent in private chats, where the chat id is the user id.
        return Inbound(
            chat_id=answer.user.id,
            chat_type="private",
            student=_student(answer.user),
            action=PollAnswer(answer.poll_id, tuple(answer.option_ids)),
        )
    return None


def chat_of(update: Update) -> int | None:
    """The chat an update belongs to, for per-chat ordering (None: not chat-bound)."""
    inbound = translate(update)
    return inbound.chat_id if inbound is not None else None
