"""Bot API calls made in the form Telegram receives them, answered with the JSON it returns.

aiogram's method models (`SendMessage(...)` and the rest) validate every field when built;
its session then dumps the model and prepares each value again (nested objects to JSON) to
build the request, and validates the answer into models (for a sent poll: every option, its
settings). For the messages the runtime sends, that was about a sixth of its CPU per update
(docs/benchmarks.md), spent on content the course loader checked already and the outbox
holds as a stored effect.

`WireCall` is a `TelegramMethod`, aiogram's own extension point for Bot API methods, whose
fields are the request's form fields as they go over the wire: strings, with numbers,
booleans and nested objects (keyboards, poll options, albums) already written as JSON. It
is built without validation (`WireCall.of`). aiogram's session sends it as it sends any
method: `model_dump` gives the fields back, `prepare_value` passes strings on unchanged,
and the request is the one aiogram builds from its own method model with the same values
(tests/unit/test_lean_methods.py). Everything else stays aiogram's: the session and its API
server, and `check_response` with its errors (429 `TelegramRetryAfter` and its
`retry_after`, 403 `TelegramForbiddenError`, 400 `TelegramBadRequest`...), which the
sender acts on. A wire call applies no bot defaults (`DefaultBotProperties`): it names
every field it sends, and the runtime's bots have none.

Its answer's `result` stays the JSON Telegram sent (`__returning__ = Any`: aiogram checks
`ok` and the error fields, nothing else): of a sent message the runtime reads a poll's id
(`sent_poll_id`, it becomes the engine's `PollSent`) and the file id of media Telegram
fetched (`sent_file_id`, sent again by id next time). `LeanGetUpdates` likewise leaves
updates as JSON objects: the runtime stores each as received and reads the few fields a
course uses itself (adapters/telegram/updates.py).
"""

from __future__ import annotations

from typing import Any

from aiogram.methods import GetUpdates, TelegramMethod


class WireCall(TelegramMethod[Any]):
    """A Bot API call with its form fields as sent; each subclass names its method."""

    __returning__ = Any

    @classmethod
    def of(cls, **fields: str) -> WireCall:
        """The call with these fields (wire form: see the module's docstring): a copy of
        the method's blank call with the fields added (copying skips pydantic's
        post-init hooks, which cost as much again as the rest)."""
        blank = _blanks.get(cls)
        if blank is None:
            blank = _blanks[cls] = cls.model_construct()
        return blank.model_copy(update=fields)


_blanks: dict[type[WireCall], WireCall] = {}


class SendMessageCall(WireCall):
    __api_method__ = "sendMessage"


class SendPhotoCall(WireCall):
    __api_method__ = "sendPhoto"


class SendVideoCall(WireCall):
    __api_method__ = "sendVideo"


class SendAudioCall(WireCall):
    __api_method__ = "sendAudio"


class SendMediaGroupCall(WireCall):
    __api_method__ = "sendMediaGroup"


class SendPollCall(WireCall):
    __api_method__ = "sendPoll"


class SendChatActionCall(WireCall):
    __api_method__ = "sendChatAction"


class LeanGetUpdates(GetUpdates):
    __returning__ = list[dict[str, Any]]


def sent_poll_id(message: object) -> str | None:
    """The id of the poll a sent message carries, if any."""
    if isinstance(message, dict):
        poll = message.get("poll")
        if isinstance(poll, dict):
            poll_id = poll.get("id")
            return poll_id if isinstance(poll_id, str) else None
    return None


def sent_file_id(message: object) -> str | None:
    """The file id of a sent message's photo (its largest size), video or audio."""
    if not isinstance(message, dict):
        return None
    photo = message.get("photo")
    media = photo[-1] if isinstance(photo, list) and photo else None
    media = media or message.get("video") or message.get("audio")
    file_id = media.get("file_id") if isinstance(media, dict) else None
    return file_id if isinstance(file_id, str) else None
