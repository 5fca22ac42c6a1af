"""Engine effects -> aiogram Bot API method objects (the lean variants: see lean_methods).

Telegram's own limits that are presentation rather than content (4096-char messages,
1024-char captions, 10-item albums, no buttons on albums) are handled here, so the engine
stays free of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from aiogram.enums import ChatAction, ParseMode, PollType
from aiogram.methods import SendChatAction, TelegramMethod
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    InputPollOption,
    LinkPreviewOptions,
    WebAppInfo,
)

from adapters.telegram.lean_methods import (
    LeanSendAudio,
    LeanSendMediaGroup,
    LeanSendMessage,
    LeanSendPhoto,
    LeanSendPoll,
    LeanSendVideo,
)
from adapters.telegram.media_links import fetchable_url
from engine.effects import InlineButton, SendAudio, SendMedia, SendPoll, SendText, Typing

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10
_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm")

RenderableEffect = SendText | SendMedia | SendAudio | SendPoll | Typing
_NO_FILES: Mapping[str, str] = MappingProxyType({})


def telegram_parse_mode(engine_mode: str | None) -> str | None:
    if engine_mode == "HTML":
        return ParseMode.HTML
    if engine_mode == "MARKDOWN":
        return ParseMode.MARKDOWN
    return None


@lru_cache(maxsize=4096)
def keyboard(buttons: tuple[InlineButton, ...]) -> InlineKeyboardMarkup | None:
    """One button per row: course buttons are sentences, they don't fit side by side.

    Cached: students at the same step of a course get the same buttons (the same data too),
    and a keyboard is several models to build (shared, never changed: aiogram only reads)."""
    if not buttons:
        return None
    rows = []
    for button in buttons:
        if button.web_app_url:
            rows.append(
                [InlineKeyboardButton(text=button.text, web_app=WebAppInfo(url=button.web_app_url))]
            )
        elif button.url:
            rows.append([InlineKeyboardButton(text=button.text, url=button.url)])
        else:
            rows.append([InlineKeyboardButton(text=button.text, callback_data=button.data)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


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


# Built once (a model per message cost more than the rest of building it); Telegram shows
# link previews unless told not to, so only "off" is ever sent.
_NO_LINK_PREVIEW = LinkPreviewOptions(is_disabled=True)


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
) -> list[TelegramMethod]:
    chunks = split_text(text)
    methods: list[TelegramMethod] = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        methods.append(
            LeanSendMessage(
                chat_id=chat_id,
                text=chunk,
                parse_mode=telegram_parse_mode(parse_mode),
                reply_markup=keyboard(buttons) if last else None,
                link_preview_options=None if link_preview else _NO_LINK_PREVIEW,
            )
        )
    return methods


def _media(chat_id: int, effect: SendMedia, files: Mapping[str, str]) -> list[TelegramMethod]:
    caption = effect.caption
    mode = telegram_parse_mode(effect.parse_mode)
    caption_fits = caption is None or len(caption) <= CAPTION_LIMIT
    methods: list[TelegramMethod] = []
    if len(effect.urls) == 1 and caption_fits:
        url = effect.urls[0]
        cls = LeanSendVideo if _is_video(url) else LeanSendPhoto
        field = "video" if cls is LeanSendVideo else "photo"
        methods.append(
            cls(
                chat_id=chat_id,
                **{field: _source(url, files)},
                caption=caption,
                parse_mode=mode,
                reply_markup=keyboard(effect.buttons),
            )
        )
        return methods
    for start in range(0, len(effect.urls), ALBUM_LIMIT):
        batch = effect.urls[start : start + ALBUM_LIMIT]
        if len(batch) == 1:
            cls = LeanSendVideo if _is_video(batch[0]) else LeanSendPhoto
            field = "video" if cls is LeanSendVideo else "photo"
            methods.append(cls(chat_id=chat_id, **{field: _source(batch[0], files)}))
            continue
        media = [
            InputMediaVideo(media=_source(url, files))
            if _is_video(url)
            else InputMediaPhoto(media=_source(url, files))
            for url in batch
        ]
        methods.append(LeanSendMediaGroup(chat_id=chat_id, media=media))
    if caption or effect.buttons:
        # Albums can't carry buttons and long captions don't fit: the text follows them.
        methods.extend(_text_messages(chat_id, caption or "⬆️", effect.parse_mode, effect.buttons))
    return methods


def _audio(chat_id: int, effect: SendAudio, files: Mapping[str, str]) -> list[TelegramMethod]:
    caption = effect.caption
    methods: list[TelegramMethod] = []
    if caption and len(caption) > CAPTION_LIMIT:
        methods.extend(_text_messages(chat_id, caption, effect.parse_mode, ()))
        caption = None
    for index, url in enumerate(effect.urls):
        methods.append(
            LeanSendAudio(
                chat_id=chat_id,
                audio=_source(url, files),
                caption=caption if index == 0 else None,
                parse_mode=telegram_parse_mode(effect.parse_mode),
            )
        )
    return methods


def _poll(chat_id: int, effect: SendPoll) -> LeanSendPoll:
    quiz = effect.kind == "quiz"
    return LeanSendPoll(
        chat_id=chat_id,
        question=effect.question,
        options=_poll_options(effect.options),
        type=PollType.QUIZ if quiz else PollType.REGULAR,
        is_anonymous=False,  # anonymous polls never send poll_answer updates
        allows_multiple_answers=effect.multiple,
        correct_option_ids=list(effect.correct_option_ids) if quiz else None,
    )


@lru_cache(maxsize=4096)
def _poll_options(options: tuple[str, ...]) -> list[InputPollOption]:
    """A course asks the same polls of every student: their options are built once (shared,
    never changed: aiogram only reads them)."""
    return [InputPollOption(text=option) for option in options]


def render(
    chat_id: int, effect: RenderableEffect, files: Mapping[str, str] = _NO_FILES
) -> list[TelegramMethod]:
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
    return [SendChatAction(chat_id=chat_id, action=ChatAction.TYPING)]
