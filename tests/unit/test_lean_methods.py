"""The runtime's sends go out as aiogram's own methods would send them, and read back only a
poll's id and a media file id; Telegram's errors stay aiogram's (adapters/telegram/lean_methods)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import (
    SendAudio,
    SendChatAction,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendPoll,
    SendVideo,
    TelegramMethod,
)
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    InputPollOption,
    LinkPreviewOptions,
    WebAppInfo,
)

from adapters.telegram.lean_methods import sent_file_id, sent_poll_id
from adapters.telegram.render import render
from engine.effects import InlineButton, SendMedia, SendText, Typing
from engine.effects import SendAudio as AudioEffect
from engine.effects import SendPoll as Poll

CHAT = 7
BUTTONS = (
    InlineButton("Дальше", data="b:1:2"),
    InlineButton("Сайт", url="https://x.org"),
    InlineButton("App", web_app_url="https://app.x.org"),
)
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="Дальше", callback_data="b:1:2")],
        [InlineKeyboardButton(text="Сайт", url="https://x.org")],
        [InlineKeyboardButton(text="App", web_app=WebAppInfo(url="https://app.x.org"))],
    ]
)


@pytest.fixture
def session() -> AiohttpSession:
    return AiohttpSession()


@pytest.fixture
def bot(session: AiohttpSession) -> Bot:
    return Bot("42:secret", session=session)


def form(session: AiohttpSession, bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    """The request's form fields, as `AiohttpSession.build_form_data` writes them."""
    files: dict[str, Any] = {}
    fields = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files)
        if prepared:
            fields[key] = prepared
    return {"method": method.__api_method__, **fields}


CASES: list[tuple[object, list[TelegramMethod[Any]]]] = [
    (
        SendText("<b>Привет</b>", "HTML", BUTTONS),
        [SendMessage(chat_id=CHAT, text="<b>Привет</b>", parse_mode="HTML", reply_markup=KEYBOARD)],
    ),
    (
        SendText("*x*", "MARKDOWN", (), link_preview=False),
        [
            SendMessage(
                chat_id=CHAT,
                text="*x*",
                parse_mode="Markdown",
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        ],
    ),
    (
        SendMedia(("https://x.org/a.png",), "Схема", "HTML", BUTTONS[:1]),
        [
            SendPhoto(
                chat_id=CHAT,
                photo="https://x.org/a.png",
                caption="Схема",
                parse_mode="HTML",
                reply_markup=InlineKeyboardMarkup(inline_keyboard=KEYBOARD.inline_keyboard[:1]),
            )
        ],
    ),
    (
        SendMedia(("https://x.org/a.mp4",), None, None),
        [SendVideo(chat_id=CHAT, video="https://x.org/a.mp4")],
    ),
    (
        SendMedia(("https://x.org/a.png", "https://x.org/b.mov"), "Подпись", None),
        [
            SendMediaGroup(
                chat_id=CHAT,
                media=[
                    InputMediaPhoto(media="https://x.org/a.png"),
                    InputMediaVideo(media="https://x.org/b.mov"),
                ],
            ),
            SendMessage(chat_id=CHAT, text="Подпись"),
        ],
    ),
    (
        AudioEffect(("https://x.org/a.mp3",), "Слушайте", "HTML"),
        [
            SendAudio(
                chat_id=CHAT, audio="https://x.org/a.mp3", caption="Слушайте", parse_mode="HTML"
            )
        ],
    ),
    (
        Poll("q1", "Сколько?", ("один", "два"), "quiz", (1,), False),
        [
            SendPoll(
                chat_id=CHAT,
                question="Сколько?",
                options=[InputPollOption(text="один"), InputPollOption(text="два")],
                type="quiz",
                is_anonymous=False,
                allows_multiple_answers=False,
                correct_option_ids=[1],
            )
        ],
    ),
    (
        Poll("q2", "Что?", ("a", "b", "c"), "regular", (), True),
        [
            SendPoll(
                chat_id=CHAT,
                question="Что?",
                options=[InputPollOption(text=o) for o in ("a", "b", "c")],
                type="regular",
                is_anonymous=False,
                allows_multiple_answers=True,
            )
        ],
    ),
    (Typing(), [SendChatAction(chat_id=CHAT, action="typing")]),
]


@pytest.mark.parametrize(("effect", "expected"), CASES)
def test_a_rendered_call_sends_what_aiogram_sends_for_its_own_method(
    session: AiohttpSession, bot: Bot, effect: Any, expected: list[TelegramMethod[Any]]
) -> None:
    sent = [form(session, bot, call) for call in render(CHAT, effect)]
    assert sent == [form(session, bot, method) for method in expected]


def test_media_telegram_fetched_before_goes_by_its_file_id(
    session: AiohttpSession, bot: Bot
) -> None:
    (call,) = render(
        CHAT, SendMedia(("https://x.org/a.png",), None, None), {"https://x.org/a.png": "F1"}
    )
    assert form(session, bot, call)["photo"] == "F1"


def test_only_a_polls_id_and_a_media_file_id_are_read_back() -> None:
    poll = {"message_id": 3, "chat": {"id": CHAT}, "poll": {"id": "555", "options": []}}
    photo = {"message_id": 4, "photo": [{"file_id": "small"}, {"file_id": "large"}]}
    video = {"message_id": 5, "video": {"file_id": "v1", "duration": 1}}
    audio = {"message_id": 6, "audio": {"file_id": "a1"}}
    text = {"message_id": 7, "text": "hi"}
    assert [sent_poll_id(m) for m in (poll, photo, text, True)] == ["555", None, None, None]
    assert [sent_file_id(m) for m in (photo, video, audio, text, poll, True)] == [
        "large",
        "v1",
        "a1",
        None,
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            },
            TelegramRetryAfter,
        ),
        (
            403,
            {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
            TelegramForbiddenError,
        ),
        (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"},
            TelegramBadRequest,
        ),
    ],
)
def test_telegrams_refusals_of_a_rendered_call_are_aiograms_errors(
    session: AiohttpSession, bot: Bot, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    (call,) = render(CHAT, SendText("hi", None))
    with pytest.raises(error) as raised:
        session.check_response(bot, call, status, json.dumps(body))
    if isinstance(raised.value, TelegramRetryAfter):
        assert raised.value.retry_after == 7


def test_an_accepted_calls_answer_is_the_json_telegram_sent(
    session: AiohttpSession, bot: Bot
) -> None:
    (call,) = render(CHAT, Poll("q1", "?", ("a", "b"), "regular", (), False))
    message = {"message_id": 1, "date": 0, "chat": {"id": CHAT}, "poll": {"id": "9"}}
    body = json.dumps({"ok": True, "result": message})
    assert session.check_response(bot, call, 200, body).result == message
