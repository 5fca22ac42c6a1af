"""Telegram updates -> what the student did, in the core's terms (runtime/inbound.py).

Only the handful of update kinds a course reacts to are translated; anything else (edited
messages, stickers, channel posts, hostile junk) becomes None and is ignored.

Updates are read with `LeanUpdate`, which validates the few fields a course uses and ignores
the rest, instead of aiogram's `Update`, which builds a model for every part of every update
(each with its own set-up): that was most of an update's intake cost (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.events import Button, Event, PollAnswer, Text, WebAppData
from runtime import resume_button
from runtime.commands import parse_command, parse_confirmation
from runtime.inbound import Command, Confirmation, Inbound, StartRequest, Student, VoiceNote

START_COMMAND = "/start"


class _Lean(BaseModel):
    # Strict: an id sent as "7" is not an id (Telegram sends JSON numbers).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)


class LeanUser(_Lean):
    id: int
    is_bot: bool = False
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


class LeanChat(_Lean):
    id: int
    type: str


class LeanVoice(_Lean):
    file_id: str
    duration: int = 0


class LeanWebAppData(_Lean):
    data: str


class LeanMessage(_Lean):
    message_id: int
    chat: LeanChat
    from_user: LeanUser | None = Field(default=None, alias="from")
    text: str | None = None
    voice: LeanVoice | None = None
    web_app_data: LeanWebAppData | None = None


class LeanCallbackQuery(_Lean):
    id: str
    from_user: LeanUser = Field(alias="from")
    message: LeanMessage | None = None  # also an inaccessible message: it has these fields
    data: str | None = None


class LeanPollAnswer(_Lean):
    poll_id: str
    user: LeanUser | None = None
    option_ids: list[int]


class LeanUpdate(_Lean):
    update_id: int
    message: LeanMessage | None = None
    callback_query: LeanCallbackQuery | None = None
    poll_answer: LeanPollAnswer | None = None


def read_update(raw: Any) -> LeanUpdate | None:
    """A received update (a JSON object) as far as courses care; None when it is not one."""
    try:
        return LeanUpdate.model_validate(raw)
    except ValidationError:
        return None


def _student(user: LeanUser) -> Student:
    return Student(
        telegram_user_id=user.id,
        username=user.username,
        first_name=user.first_name,
        language_code=user.language_code,
    )


def _start_payload(text: str) -> StartRequest | None:
    command, _, payload = text.strip().partition(" ")
    name = command.split("@", 1)[0]
    if name != START_COMMAND:
        return None
    return StartRequest(payload.strip() or None)


def translate(update: LeanUpdate) -> Inbound | None:
    """What this update means for a course, or None when it means nothing."""
    if update.message is not None:
        message = update.message
        if message.from_user is None or message.from_user.is_bot:
            return None
        action: Event | StartRequest | VoiceNote | Command | Confirmation | None = None
        if message.text is not None:
            text = message.text
            action = _start_payload(text) or parse_command(text) or Text(text)
        elif message.voice is not None:
            action = VoiceNote(message.voice.file_id, message.voice.duration)
        elif message.web_app_data is not None:
            action = WebAppData(message.web_app_data.data)
        if action is None:
            return None
        return Inbound(
            chat_id=message.chat.id,
            chat_type=message.chat.type,
            student=_student(message.from_user),
            message_id=message.message_id,
            action=action,
        )

    if update.callback_query is not None:
        query = update.callback_query
        pressed_on = query.message
        if pressed_on is None or query.data is None:
            return None
        return Inbound(
            chat_id=pressed_on.chat.id,
            chat_type=pressed_on.chat.type,
            student=_student(query.from_user),
            action=(
                parse_confirmation(query.data)
                or resume_button.parse(query.data)
                or Button(query.data)
            ),
            callback_query_id=query.id,
            message_id=pressed_on.message_id,
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
