"""The runtime's replies against Telegram's flood limits, through the fake Bot API: a pressed
button's acknowledgement never holds the reply back, and a student playing as fast as they
can never draws a 429 (while a runtime that does not pace would)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.runtime_support import (
    Course,
    add_bot,
    add_course_version,
    add_token,
    deploy,
)
from tests.integration.virtual_time import SteppedClock

pytestmark = pytest.mark.integration

STUDENT = 7_700_001

BUTTON_COURSE = """
Hello:
  type: message
  text: Press the button when you are ready.
  button: Ready

Reply:
  type: message
  text: Here is the lesson.
"""

# A button step, a poll step, an input step and a three-message step, round and round.
ROUND_COURSE = """
Quiz:
  type: question
  text: Which step comes next?
  answers:
    - text: The input
    - text: The messages

Ask:
  type: input
  text: Type any word.

Three_One:
  type: message
  text: First of three messages.

Three_Two:
  type: message
  text: Second of three messages.

Three_Three:
  type: message
  text: Third of three; press the button to go round again.
  options:
    - text: Again
      goto: Quiz
"""


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


async def _runtime(db, secret_box, redis, fake: FakeTelegram, **options) -> TelegramRuntime:
    runtime = TelegramRuntime(
        db,
        secret_box,
        redis,
        RuntimeOptions(api_base=fake.base_url, poll_timeout_s=1, **options),
        workers=shared_course_workers(),
        reconcile_interval_s=0.2,
    )
    await runtime.start()
    return runtime


async def _provision(db, secret_box, fake: FakeTelegram, account_id: int, source: str) -> Course:
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, f"pacing{fake_bot.id}")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    return Course(account_id, bot_id, fake_bot, deployment_id, token)


async def test_a_pressed_button_is_acknowledged_beside_the_reply_not_before_it(
    db, secret_box, redis, make_account
):
    """The chat may get one message a second and no burst, and the sender's clock stands
    still: the reply can only go out if the acknowledgement spent none of the chat's pace.
    (It used to be queued first in the chat, and the reply waited a second behind it.)"""
    clock = SteppedClock()
    async with FakeTelegram() as fake:
        course = await _provision(db, secret_box, fake, await make_account(), BUTTON_COURSE)
        runtime = await _runtime(
            db,
            secret_box,
            redis,
            fake,
            rate_limits=RateLimits(chat_per_second=1.0, chat_burst=1),
            sender_clock=clock,
        )
        try:
            fake.push_start(course.fake_bot, STUDENT, course.payload)
            [hello] = await fake.wait_for_sent(STUDENT, 1, timeout=15)
            await clock.advance(1.0)  # the chat's one token is back

            fake.press_button(course.fake_bot, STUDENT, hello, hello.buttons[0]["callback_data"])
            sent = await fake.wait_for_sent(STUDENT, 2, timeout=10)
        finally:
            await runtime.stop()

    assert sent[-1].text == "Here is the lesson."
    [ack] = fake.calls_of("answerCallbackQuery", course.fake_bot)
    reply = next(c for c in fake.calls_of("sendMessage") if c.params.get("text") == sent[-1].text)
    assert ack.status == 200
    assert fake.calls.index(ack) < fake.calls.index(reply)  # not held until after the reply


async def _play_rounds(fake: FakeTelegram, course: Course, rounds: int) -> None:
    """Answer every step as soon as it arrived whole: the poll, the input, the three
    messages and their button, `rounds` times."""
    bot = course.fake_bot
    fake.push_start(bot, STUDENT, course.payload)
    expected = 1
    for _ in range(rounds):
        poll = (await fake.wait_for_sent(STUDENT, expected, timeout=20))[-1].poll
        assert poll is not None
        fake.answer_poll(bot, STUDENT, poll["id"], [1])
        expected += 1
        await fake.wait_for_sent(STUDENT, expected, timeout=20)
        fake.push_text(bot, STUDENT, "word")
        expected += 3
        last = (await fake.wait_for_sent(STUDENT, expected, timeout=20))[-1]
        fake.press_button(bot, STUDENT, last, last.buttons[0]["callback_data"])
        expected += 1
    await fake.wait_for_sent(STUDENT, expected, timeout=20)


@pytest.mark.parametrize(
    ("limits", "paced"),
    [
        (RateLimits(), True),  # Telegram's limits, as production runs
        (RateLimits(bot_per_second=1e6, chat_per_second=1e6, bot_burst=1000), False),
    ],
    ids=["paced", "unpaced"],
)
async def test_fast_course_play_stays_within_telegram_limits_only_when_paced(
    db, secret_box, redis, make_account, limits: RateLimits, paced: bool
):
    async with FakeTelegram(enforce_limits=True) as fake:
        course = await _provision(db, secret_box, fake, await make_account(), ROUND_COURSE)
        runtime = await _runtime(db, secret_box, redis, fake, rate_limits=limits)
        try:
            await _play_rounds(fake, course, rounds=2)
        finally:
            await runtime.stop()

    texts = [s.text for s in fake.sent_to(STUDENT)]
    assert texts.count("First of three messages.") == 2  # every step arrived, in order
    assert len(fake.calls_of("answerCallbackQuery")) == 2
    if paced:
        assert fake.limit_violations == 0
    else:
        assert fake.limit_violations > 0  # the fake would have caught a sender that floods
