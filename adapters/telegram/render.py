"""Engine effects -> the Bot API calls that carry them out, in wire form (see lean_methods).

Telegram's own limits that are presentation rather than content (4096-char messages,
1024-char captions, 10-item albums, no buttons on albums) are handled here, so the engine
stays free of them. The nested objects a call carries (keyboards, poll options, albums) are
written as the Bot API's JSON here; those a course repeats for every student (its keyboards
and polls) are written once per content.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from adapters.telegram.lean_methods import (
    SendAudioCall,
    SendChatActionCall,
    SendMediaGroupCall,
    SendMessageCall,
    SendPhotoCall,
    SendPollCall,
    SendVideoCall,
    WireCall,
)
from adapters.telegram.media_links import fetchable_url
from engine.effects import InlineButton, SendAudio, SendMedia, SendPoll, SendText, Typing

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm")

RenderableEffect = SendText | SendMedia | SendAudio | SendPoll | Typing
_NO_FILES: Mapping[str, str] = MappingProxyType({})
_PARSE_MODES = {"HTML": "HTML", "MARKDOWN": "Markdown"}  # the engine's names -> Telegram's
# Telegram shows link previews unless told not to, so only "off" is ever sent.
_NO_LINK_PREVIEW = json.dumps({"is_disabled": True})


def _formatted(fields: dict[str, str], key: str, value: str | None, mode: str | None) -> None:
    """Add a text or caption field, with its parse mode when it has one."""
    if value is None:
        return
    fields[key] = value
    parse_mode = _PARSE_MODES.get(mode) if mode is not None else None
    if parse_mode is not None:
        fields["parse_mode"] = parse_mode


@lru_cache(maxsize=4096)
def keyboard(buttons: tuple[InlineButton, ...]) -> str | None:
    """One button per row: course buttons are sentences, they don't fit side by side.

    Cached: students at the same step of a course get the same buttons (the same data too)."""
    if not buttons:
        return None
    rows: list[list[dict[str, object]]] = []
    for button in buttons:
        if button.web_app_url:
            rows.append([{"text": button.text, "web_app": {"url": button.web_app_url}}])
        elif button.url:
            rows.append([{"text": button.text, "url": button.url}])
        else:
            rows.append([{"text": button.text, "callback_data": button.data}])
    return json.dumps({"inline_keyboard": rows})


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split on paragraph/line boundaries where possible; never returns an empty list."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest:
        parts.append(rest)
    return parts


def _source(url: str, files: Mapping[str, str]) -> str:
    """What Telegram is given for a course's media link: the file id it returned for the
    link before, else a link it can download."""
    return files.get(url) or fetchable_url(url)


def _is_video(url: str) -> bool:
    return url.split("?", 1)[0].lower().endswith(_VIDEO_SUFFIXES)


def _text_messages(
    chat_id: int,
    text: str,
    parse_mode: str | None,
    buttons: tuple[InlineButton, ...],
    link_preview: bool = True,
) -> list[WireCall]:
    chunks = split_text(text)
    calls: list[WireCall] = []
    for index, chunk in enumerate(chunks):
        fields = {"chat_id": str(chat_id)}
        _formatted(fields, "text", chunk, parse_mode)
        markup = keyboard(buttons) if index == len(chunks) - 1 else None
        if markup is not None:
            fields["reply_markup"] = markup
        if not link_preview:
            fields["link_preview_options"] = _NO_LINK_PREVIEW
        calls.append(SendMessageCall.of(**fields))
    return calls


def _single_media(
    chat_id: int,
    url: str,
    files: Mapping[str, str],
    caption: str | None = None,
    parse_mode: str | None = None,
    buttons: tuple[InlineButton, ...] = (),
) -> WireCall:
    """A photo or a video (by the link's suffix), sent on its own."""
    video = _is_video(url)
    fields = {"chat_id": str(chat_id), "video" if video else "photo": _source(url, files)}
    _formatted(fields, "caption", caption, parse_mode)
    markup = keyboard(buttons)
    if markup is not None:
        fields["reply_markup"] = markup
    return (SendVideoCall if video else SendPhotoCall).of(**fields)


def _media(chat_id: int, effect: SendMedia, files: Mapping[str, str]) -> list[WireCall]:
    caption = effect.caption
    caption_fits = caption is None or len(caption) <= CAPTION_LIMIT
    if len(effect.urls) == 1 and caption_fits:
        url = effect.urls[0]
        return [_single_media(chat_id, url, files, caption, effect.parse_mode, effect.buttons)]
    calls: list[WireCall] = []
    for start in range(0, len(effect.urls), ALBUM_LIMIT):
        batch = effect.urls[start : start + ALBUM_LIMIT]
        if len(batch) == 1:
            calls.append(_single_media(chat_id, batch[0], files))
            continue
        media = [
            {"type": "video" if _is_video(url) else "photo", "media": _source(url, files)}
            for url in batch
        ]
        calls.append(SendMediaGroupCall.of(chat_id=str(chat_id), media=json.dumps(media)))
    if caption or effect.buttons:
        # Albums can't carry buttons and long captions don't fit: the text follows them.
        calls.extend(_text_messages(chat_id, caption or "⬆️", effect.parse_mode, effect.buttons))
    return calls


def _audio(chat_id: int, effect: SendAudio, files: Mapping[str, str]) -> list[WireCall]:
    caption = effect.caption
    calls: list[WireCall] = []
    if caption and len(caption) > CAPTION_LIMIT:
        calls.extend(_text_messages(chat_id, caption, effect.parse_mode, ()))
        caption = None
    for index, url in enumerate(effect.urls):
        fields = {"chat_id": str(chat_id), "audio": _source(url, files)}
        _formatted(fields, "caption", caption if index == 0 else None, effect.parse_mode)
        calls.append(SendAudioCall.of(**fields))
    return calls


@lru_cache(maxsize=4096)
def _poll_fields(
    question: str,
    options: tuple[str, ...],
    quiz: bool,
    multiple: bool,
    correct_option_ids: tuple[int, ...],
) -> Mapping[str, str]:
    """A poll's fields but its chat: a course asks the same polls of every student, so
    they are written once."""
    fields = {
        "question": question,
        "options": json.dumps([{"text": option} for option in options]),
        "type": "quiz" if quiz else "regular",
        "is_anonymous": "false",  # anonymous polls never send poll_answer updates
        "allows_multiple_answers": json.dumps(multiple),
    }
    if quiz:
        fields["correct_option_ids"] = json.dumps(list(correct_option_ids))
    return MappingProxyType(fields)


def _poll(chat_id: int, effect: SendPoll) -> WireCall:
    quiz = effect.kind == "quiz"
    fields = _poll_fields(
        effect.question, effect.options, quiz, effect.multiple, effect.correct_option_ids
    )
    return SendPollCall.of(chat_id=str(chat_id), **fields)


def render(
    chat_id: int, effect: RenderableEffect, files: Mapping[str, str] = _NO_FILES
) -> list[WireCall]:
    """The Bot API calls that carry out one effect, in order. `files`: media links Telegram
    fetched for this bot before -> their file ids."""
    if isinstance(effect, SendText):
        return _text_messages(
            chat_id, effect.text, effect.parse_mode, effect.buttons, effect.link_preview
        )
    if isinstance(effect, SendMedia):
        return _media(chat_id, effect, files)
    if isinstance(effect, SendAudio):
        return _audio(chat_id, effect, files)
    if isinstance(effect, SendPoll):
        return [_poll(chat_id, effect)]
    return [SendChatActionCall.of(chat_id=str(chat_id), action="typing")]
