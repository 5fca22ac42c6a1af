"""The fake Bot API must behave like Telegram for a real aiogram client over real HTTP.

Other tests trust it to tell a working runtime from a broken one, so each behaviour the
runtime depends on (long polls, webhooks, poll answers, flood errors, blocked users) is
checked here through aiogram itself. Also covers bot_factory's connection pools.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputPollOption,
)
from aiohttp import web

from botapi.bot_factory import SessionPools, api_server, make_bot, make_session
from tests.fakes.telegram_api import FakeBot, FakeTelegram, Limits

STUDENT = 1001


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def pools(fake: FakeTelegram) -> AsyncIterator[SessionPools]:
    pools = SessionPools.create(fake.base_url)
    yield pools
    await pools.close()


@pytest.fixture
def school(fake: FakeTelegram) -> FakeBot:
    return fake.add_bot("school_bot", first_name="School")


@pytest.fixture
def bot(school: FakeBot, fake: FakeTelegram, pools: SessionPools) -> Bot:
    return make_bot(school.token, fake.base_url, pools.sending)


def _keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=d.upper(), callback_data=d)] for d in data]
    )


class WebhookReceiver:
    """A tiny HTTP endpoint standing in for our panel's webhook route."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses  # answered in turn; the last one repeats
        self.received: list[tuple[str | None, dict]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.received.append((secret, await request.json()))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status)

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook/{bot}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook/b1"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_get_me_serves_several_bots(
    fake: FakeTelegram, school: FakeBot, pools: SessionPools
) -> None:
    other = fake.add_bot("other_bot")
    me = await make_bot(school.token, session=pools.sending).get_me()
    assert (me.id, me.username, me.is_bot) == (school.id, "school_bot", True)
    assert (await make_bot(other.token, session=pools.sending).get_me()).id == other.id
    assert school.id != other.id


async def test_unknown_token_is_unauthorized(fake: FakeTelegram, pools: SessionPools) -> None:
    stranger = make_bot("123456:not-registered", session=pools.sending)
    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()


async def test_send_message_returns_a_telegram_like_message(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    fake.add_user(STUDENT, "Anna", username="anna")
    first = await bot.send_message(STUDENT, "Hello *there*", reply_markup=_keyboard("go"))
    second = await bot.send_message(STUDENT, "Again", parse_mode="HTML")

    assert first.chat.id == STUDENT and first.chat.type == "private"
    assert first.chat.first_name == "Anna"
    assert first.from_user is not None and first.from_user.id == school.id
    assert abs(first.date.timestamp() - time.time()) < 5
    assert second.message_id == first.message_id + 1
    assert first.reply_markup is not None
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "go"

    sent = fake.sent_to(STUDENT, bot=school)
    assert [s.text for s in sent] == ["Hello *there*", "Again"]
    assert [b["callback_data"] for b in sent[0].buttons] == ["go"]
    assert fake.calls_of("sendMessage")[1].params["parse_mode"] == "HTML"


async def test_bad_requests_fail_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(STUDENT, "   ")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(STUDENT, "x", reply_markup=_keyboard("d" * 65))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(STUDENT, "no-such-file-id")
    assert fake.sent_to(STUDENT) == []


async def test_json_and_form_bodies_are_both_understood(
    fake: FakeTelegram, school: FakeBot
) -> None:
    url = f"{fake.base_url}/bot{school.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": 7, "text": "json", "reply_markup": markup}) as r:
            assert (await r.json())["result"]["reply_markup"] == markup
        async with http.post(url, data={"chat_id": "7", "text": "form"}) as r:
            assert (await r.json())["result"]["chat"]["id"] == 7
        async with http.post(f"{fake.base_url}/bot{school.token}/noSuchMethod") as r:
            assert r.status == 404
    assert [s.text for s in fake.sent_to(7)] == ["json", "form"]


async def test_long_poll_wakes_on_a_pushed_update(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda: fake.calls_of("getUpdates"))
    pushed = fake.push_start(school, STUDENT, "cd_1_abc")

    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.5
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    message = updates[0].message
    assert message is not None and message.text == "/start cd_1_abc"
    assert message.entities is not None and message.entities[0].type == "bot_command"

    # Unconfirmed updates come back; an offset past them confirms and forgets them.
    assert len(await bot.get_updates()) == 1
    assert await bot.get_updates(offset=pushed["update_id"] + 1) == []
    assert fake.pending_updates(school) == []


async def test_empty_long_poll_waits_for_its_timeout(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2


async def test_newer_get_updates_terminates_the_older_one(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda: fake.calls_of("getUpdates"))
    newer = asyncio.create_task(bot.get_updates(timeout=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(older, 2)
    fake.push_text(school, STUDENT, "hi")
    assert len(await asyncio.wait_for(newer, 2)) == 1


async def test_duplicate_update_is_delivered_twice(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    pushed = fake.push_update(
        school,
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}}},
        duplicate=True,
    )
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [pushed["update_id"]] * 2


async def test_poll_answers_reach_the_bot_only_for_named_polls(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    named = await bot.send_poll(
        STUDENT,
        "2+2?",
        [InputPollOption(text="3"), InputPollOption(text="4")],
        is_anonymous=False,
        type="quiz",
        correct_option_ids=[1],
    )
    anonymous = await bot.send_poll(STUDENT, "Mood?", ["good", "bad"])
    assert named.poll is not None and anonymous.poll is not None
    assert named.poll.id and named.poll.id != anonymous.poll.id
    assert named.poll.correct_option_ids == [1]
    assert fake.sent_to(STUDENT)[0].poll["id"] == named.poll.id  # type: ignore[index]

    fake.answer_poll(school, STUDENT, named.poll.id, [1])
    fake.answer_poll(school, STUDENT, anonymous.poll.id, [0])
    updates = await bot.get_updates()
    assert updates[0].poll_answer is not None
    assert updates[0].poll_answer.poll_id == named.poll.id
    assert updates[0].poll_answer.option_ids == [1]
    assert updates[0].poll_answer.user is not None
    assert updates[0].poll_answer.user.id == STUDENT
    assert updates[1].poll_answer is None and updates[1].poll is not None
    assert updates[1].poll.total_voter_count == 1

    with pytest.raises(ValueError, match="does not allow changing"):
        fake.answer_poll(school, STUDENT, named.poll.id, [0])


async def test_allowed_updates_filter_like_telegram(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    poll = await bot.send_poll(STUDENT, "Q?", ["a", "b"], is_anonymous=False)
    assert poll.poll is not None
    await bot.get_updates(allowed_updates=["message"])
    fake.answer_poll(school, STUDENT, poll.poll.id, [0])
    fake.push_text(school, STUDENT, "typed")
    updates = await bot.get_updates()
    assert [u.event_type for u in updates] == ["message"]


async def test_buttons_callbacks_and_markup_edits(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    sent = await bot.send_message(STUDENT, "Pick", reply_markup=_keyboard("yes", "no"))
    with pytest.raises(ValueError, match="no button 'maybe'"):
        fake.press_button(school, STUDENT, sent.message_id, "maybe")

    fake.press_button(school, STUDENT, fake.sent_to(STUDENT)[0], "yes")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.data == "yes"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="ok")
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query.id)

    await bot.edit_message_reply_markup(chat_id=STUDENT, message_id=sent.message_id)
    assert fake.sent_to(STUDENT)[0].buttons == []
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=STUDENT, message_id=sent.message_id)


async def test_media_by_url_upload_file_id_and_group(fake: FakeTelegram, bot: Bot) -> None:
    photo = await bot.send_photo(STUDENT, "https://example.com/chart.png", caption="Chart")
    assert photo.photo and photo.caption == "Chart"
    again = await bot.send_photo(STUDENT, photo.photo[-1].file_id)
    assert again.photo and again.photo[-1].file_id == photo.photo[-1].file_id

    audio = await bot.send_audio(
        STUDENT, BufferedInputFile(b"ID3-bytes", "a.mp3"), title="Lesson 1"
    )
    assert audio.audio is not None and audio.audio.title == "Lesson 1"
    video = await bot.send_video(STUDENT, "https://example.com/v.mp4")
    assert video.video is not None

    group = await bot.send_media_group(
        STUDENT,
        [
            InputMediaPhoto(media="https://example.com/1.png", caption="one"),
            InputMediaPhoto(media=BufferedInputFile(b"png", "2.png")),
        ],
    )
    assert len(group) == 2 and group[0].media_group_id == group[1].media_group_id
    assert [s.method for s in fake.sent_to(STUDENT)][-2:] == ["sendMediaGroup"] * 2
    assert await bot.send_chat_action(STUDENT, "typing")


async def test_voice_note_can_be_downloaded(fake: FakeTelegram, school: FakeBot, bot: Bot) -> None:
    fake.push_voice(school, STUDENT, b"OggS-hello", duration=3)
    [update] = await bot.get_updates()
    assert update.message is not None and update.message.voice is not None
    voice = update.message.voice
    assert voice.duration == 3
    downloaded = await bot.download(voice.file_id)
    assert downloaded is not None and downloaded.read() == b"OggS-hello"


async def test_webhook_delivery_with_secret_and_retries(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    async with WebhookReceiver(statuses=[500, 200]) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret-Token_1")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        pushed = fake.push_text(school, STUDENT, "hello")
        await fake.wait_for(lambda: not fake.pending_updates(school))

        assert [secret for secret, _ in receiver.received] == ["s3cret-Token_1"] * 2
        assert [body["update_id"] for _, body in receiver.received] == [pushed["update_id"]] * 2
        assert receiver.received[0][1]["message"]["text"] == "hello"
        info = await bot.get_webhook_info()
        assert info.url == receiver.url and info.pending_update_count == 0
        assert info.last_error_message is not None and "500" in info.last_error_message

        assert await bot.delete_webhook()
        fake.push_text(school, STUDENT, "after")
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["after"]
        assert len(receiver.received) == 2


async def test_webhook_duplicate_is_posted_twice(fake: FakeTelegram, school: FakeBot, bot: Bot):
    async with WebhookReceiver(statuses=[200]) as receiver:
        await bot.set_webhook(receiver.url)
        pushed = fake.push_text(school, STUDENT, "dup", chat_id=None)
        fake.push_update(school, pushed, duplicate=True)
        await fake.wait_for(lambda: len(receiver.received) == 3)
        assert [b["update_id"] for _, b in receiver.received].count(pushed["update_id"]) == 3
        assert receiver.received[0][0] is None  # no secret configured, no header


async def test_injected_429_surfaces_as_retry_after(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    fake.fail_next("sendMessage", 429, retry_after=7, chat_id=STUDENT)
    await bot.send_message(STUDENT + 1, "other chat is unaffected")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(STUDENT, "flood")
    assert error.value.retry_after == 7
    await bot.send_message(STUDENT, "later")
    assert [s.text for s in fake.sent_to(STUDENT)] == ["later"]
    assert [c.status for c in fake.calls_of("sendMessage")] == [200, 429, 200]


async def test_blocked_user_gets_403_and_bot_hears_about_it(
    fake: FakeTelegram, school: FakeBot, bot: Bot
) -> None:
    fake.block_user(school, STUDENT)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(STUDENT, "anyone there?")
    [update] = await bot.get_updates()
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    fake.unblock_user(school, STUDENT)
    await bot.send_message(STUDENT, "welcome back")


async def test_limits_enforced_when_asked(school_limits: tuple[FakeTelegram, Bot]) -> None:
    """A private chat takes a short burst, then one message a second (a token bucket)."""
    fake, bot = school_limits
    for n in range(fake.limits.chat_burst):
        await bot.send_message(STUDENT, f"burst {n}")
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(STUDENT, "one more, too soon")
    assert refused.value.retry_after == 1
    await bot.send_message(STUDENT + 1, "another chat is fine")
    assert fake.limit_violations == 1


async def test_bot_wide_limit_takes_a_burst_then_thirty_a_second() -> None:
    async with FakeTelegram(enforce_limits=True) as fake:
        bot = make_bot(fake.add_bot().token, fake.base_url)
        try:
            chats = range(STUDENT, STUDENT + 40)
            answers = await asyncio.gather(
                *(bot.send_message(c, "news") for c in chats), return_exceptions=True
            )
        finally:
            await bot.session.close()
    refused = [a for a in answers if isinstance(a, TelegramRetryAfter)]
    assert refused and len(answers) - len(refused) >= fake.limits.bot_burst
    assert fake.limit_violations == len(refused)


@pytest.fixture
async def school_limits() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    """Only the per-chat limits bind: the bot may send as fast as these tests do."""
    limits = Limits(per_bot_per_second=1000, bot_burst=1000)
    async with FakeTelegram(enforce_limits=True, limits=limits) as fake:
        token = fake.add_bot("strict_bot").token
        bot = make_bot(token, fake.base_url)
        yield fake, bot
        await bot.session.close()


# ---- bot_factory ------------------------------------------------------------------------------


async def test_long_polls_do_not_starve_sends(fake: FakeTelegram, pools: SessionPools) -> None:
    tokens = [fake.add_bot().token for _ in range(3)]
    polls = [
        asyncio.create_task(make_bot(t, session=pools.polling).get_updates(timeout=2))
        for t in tokens
    ]
    await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) == 3)
    started = time.monotonic()
    await make_bot(tokens[0], session=pools.sending).send_message(STUDENT, "not starved")
    assert time.monotonic() - started < 0.5
    for poll in polls:
        poll.cancel()
    await asyncio.gather(*polls, return_exceptions=True)


async def test_one_small_shared_pool_would_starve_sends(fake: FakeTelegram) -> None:
    # The failure the two pools exist to prevent: polls hold every connection of the pool.
    shared = make_session(fake.base_url, limit=2)
    tokens = [fake.add_bot().token for _ in range(2)]
    polls = [
        asyncio.create_task(make_bot(t, session=shared).get_updates(timeout=1)) for t in tokens
    ]
    await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) == 2)
    started = time.monotonic()
    await make_bot(tokens[0], session=shared).send_message(STUDENT, "starved")
    assert time.monotonic() - started > 0.5
    await asyncio.gather(*polls)
    await shared.close()


def test_make_bot_uses_default_properties_and_checks_api_base() -> None:
    session = make_session("http://127.0.0.1:1")
    bot = make_bot(
        "42:abc", "http://127.0.0.1:1", session, default=DefaultBotProperties(parse_mode="HTML")
    )
    assert bot.default.parse_mode == "HTML" and bot.id == 42
    assert bot.session.api.api_url("42:abc", "getMe") == "http://127.0.0.1:1/bot42:abc/getMe"
    with pytest.raises(ValueError, match="different Bot API server"):
        make_bot("42:abc", "http://127.0.0.1:2", session)
    assert make_bot("42:abc").session.api.base.startswith("https://api.telegram.org/")
    with pytest.raises(ValueError, match="TELEGRAM_API_BASE"):
        api_server("127.0.0.1:8081")
