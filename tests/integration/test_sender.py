"""The sender against the fake Bot API: flood limits kept, Telegram errors survived.

Timing claims are measured on the fake's side (when requests arrived), since that is what
Telegram would count; in those tests the fake also enforces the limits itself, so a violation
would show up as a 429 as well as in the timestamps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import SendMessage, SendPoll

from adapters.telegram.sender import (
    BotSender,
    ChatBlocked,
    RateLimits,
    RetryPolicy,
    SenderClosed,
)
from botapi.bot_factory import make_bot
from tests.fakes.telegram_api import FakeBot, FakeTelegram
from tests.integration.virtual_time import SteppedClock, settle

ALICE, BOB = 2001, 2002
FAST = RateLimits(bot_per_second=200, chat_per_second=50, group_per_minute=3000)
QUICK_RETRY = RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def school(fake: FakeTelegram) -> FakeBot:
    return fake.add_bot("school_bot")


@pytest.fixture
async def bot(fake: FakeTelegram, school: FakeBot) -> AsyncIterator[Bot]:
    bot = make_bot(school.token, fake.base_url)
    yield bot
    await bot.session.close()


@pytest.fixture
async def make_sender(bot: Bot) -> AsyncIterator[Callable[..., BotSender]]:
    senders: list[BotSender] = []

    def make(**options: object) -> BotSender:
        sender = BotSender(bot, **options)  # type: ignore[arg-type]
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        await sender.close(drain=False)


def _text(chat_id: int, text: str) -> SendMessage:
    return SendMessage(chat_id=chat_id, text=text)


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - times[i] < window) for i in range(len(times)))


async def test_results_come_back_per_call_in_chat_order(
    fake: FakeTelegram, bot: Bot, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST)
    first = sender.send(ALICE, _text(ALICE, "one"))
    poll = sender.send(
        ALICE, SendPoll(chat_id=ALICE, question="Q?", options=["a", "b"], is_anonymous=False)
    )
    third = sender.send(ALICE, lambda: bot.send_message(ALICE, "three"))

    poll_message = await poll
    assert poll_message.poll is not None
    assert poll_message.poll.id == fake.sent_to(ALICE)[1].poll["id"]  # type: ignore[index]
    assert (await first).text == "one" and (await third).text == "three"
    assert [s.text for s in fake.sent_to(ALICE)] == ["one", "Q?", "three"]


async def test_429_waits_retry_after_and_delivers_exactly_once(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST)
    fake.fail_next("sendMessage", 429, retry_after=1, chat_id=ALICE)

    message = await asyncio.wait_for(sender.send(ALICE, _text(ALICE, "hello")), 5)

    assert message.text == "hello"
    assert [s.text for s in fake.sent_to(ALICE)] == ["hello"]
    refused, accepted = fake.calls_of("sendMessage")
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.time - refused.time >= 0.95
    assert sender.stats.rate_limited == 1 and sender.stats.sent == 1


async def test_server_errors_are_retried_with_backoff(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST, retry=QUICK_RETRY)
    fake.fail_next("sendMessage", 502, count=3, chat_id=ALICE)

    message = await asyncio.wait_for(sender.send(ALICE, _text(ALICE, "survived")), 5)

    assert message.text == "survived"
    assert [c.status for c in fake.calls_of("sendMessage")] == [502, 502, 502, 200]
    assert sender.stats.retried == 3


async def test_server_errors_give_up_after_max_attempts(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST, retry=QUICK_RETRY)
    fake.fail_next("sendMessage", 500, count=100, chat_id=ALICE)

    with pytest.raises(TelegramServerError):
        await asyncio.wait_for(sender.send(ALICE, _text(ALICE, "lost")), 5)

    assert len(fake.calls_of("sendMessage")) == QUICK_RETRY.max_attempts
    # The worker is still alive for other chats.
    assert (await sender.send(BOB, _text(BOB, "fine"))).text == "fine"


async def test_blocked_chat_is_reported_dropped_and_others_keep_going(
    fake: FakeTelegram, school: FakeBot, bot: Bot, make_sender: Callable[..., BotSender]
) -> None:
    reported: list[tuple[int, int]] = []

    async def on_blocked(bot_id: int, chat_id: int) -> None:
        reported.append((bot_id, chat_id))

    sender = make_sender(limits=FAST, on_blocked=on_blocked)
    fake.block_user(school, ALICE)
    to_alice = [sender.send(ALICE, _text(ALICE, f"a{i}")) for i in range(3)]
    to_bob = [sender.send(BOB, _text(BOB, f"b{i}")) for i in range(3)]

    results = await asyncio.gather(*to_alice, *to_bob, return_exceptions=True)

    assert isinstance(results[0], TelegramForbiddenError)
    assert all(isinstance(r, ChatBlocked) for r in results[1:3])
    assert [r.text for r in results[3:]] == ["b0", "b1", "b2"]  # type: ignore[union-attr]
    assert reported == [(bot.id, ALICE)]
    assert len([c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == ALICE]) == 1
    assert sender.stats.blocked_chats == 1 and sender.stats.dropped == 2
    # Once the student unblocks, new sends to them work again.
    fake.unblock_user(school, ALICE)
    assert (await sender.send(ALICE, _text(ALICE, "welcome back"))).text == "welcome back"


async def test_one_chat_gets_a_burst_then_one_message_per_second_without_holding_up_others(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    fake.enforce_limits = True
    sender = make_sender()  # Telegram's real limits
    burst = RateLimits().chat_burst
    backlog = [sender.send(ALICE, _text(ALICE, f"a{i}")) for i in range(burst + 2)]
    other = sender.send(BOB, _text(BOB, "b"))

    await asyncio.wait_for(asyncio.gather(*backlog, other), 5)

    first = fake.sent_to(ALICE)[0].time
    alice_times = [s.time - first for s in fake.sent_to(ALICE)]
    assert alice_times[burst - 1] < 0.5, alice_times  # the burst goes at once
    for extra, at in enumerate(alice_times[burst:], start=1):  # then one a second
        assert extra - 0.05 <= at < extra + 0.5, alice_times
    bob_time = fake.sent_to(BOB)[0].time
    assert bob_time - first < 0.3  # Bob did not queue behind Alice's backlog
    assert fake.limit_violations == 0


async def test_bot_sends_at_most_thirty_per_second(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    fake.enforce_limits = True
    sender = make_sender()
    chats = range(3000, 3045)
    await asyncio.wait_for(asyncio.gather(*(sender.send(c, _text(c, "news")) for c in chats)), 10)

    times = [s.time for s in fake.sent]
    assert len(times) == 45
    limits = RateLimits()  # a token bucket: its burst, then 30 a second
    assert _max_in_window(times, 1.0) <= limits.bot_burst + limits.bot_per_second
    assert 1.3 < max(times) - min(times) < 2.5  # ≈30/s: paced, but not slower than needed
    assert fake.limit_violations == 0


class ManualClock:
    """Virtual time: sleeping advances it at once, so minute-long pacing runs instantly."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


async def test_groups_get_twenty_messages_per_minute(
    make_sender: Callable[..., BotSender],
) -> None:
    clock = ManualClock()
    sender = make_sender(clock=clock)
    sent_at: list[float] = []

    async def record() -> float:
        sent_at.append(clock.now())
        return clock.now()

    await asyncio.wait_for(asyncio.gather(*(sender.send(-100777, record) for _ in range(25))), 5)

    assert len(sent_at) == 25
    assert _max_in_window(sent_at, 60.0) == 20
    assert min(b - a for a, b in itertools.pairwise(sent_at)) >= 3.0 - 1e-6


async def test_withdrawn_call_is_never_made(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST)
    first = sender.send(ALICE, _text(ALICE, "1"))
    second = sender.send(ALICE, _text(ALICE, "2"))
    third = sender.send(ALICE, _text(ALICE, "3"))
    second.cancel()
    await asyncio.wait_for(asyncio.gather(first, third), 5)
    assert [s.text for s in fake.sent_to(ALICE)] == ["1", "3"]


async def test_close_drains_then_refuses_new_calls(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST)
    futures = [sender.send(ALICE, _text(ALICE, str(i))) for i in range(5)]
    await sender.close()
    assert all(f.done() and not f.cancelled() for f in futures)
    assert len(fake.sent_to(ALICE)) == 5
    with pytest.raises(SenderClosed):
        sender.send(ALICE, _text(ALICE, "late"))


async def test_close_gives_up_on_what_cannot_go_in_time(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=RateLimits(chat_burst=1))  # 1 message per second per chat
    futures = [sender.send(ALICE, _text(ALICE, str(i))) for i in range(3)]
    await sender.close(timeout=0.5)
    assert not futures[0].cancelled() and futures[0].result().text == "0"
    assert futures[1].cancelled() and futures[2].cancelled()
    assert len(fake.sent_to(ALICE)) == 1


async def test_call_goes_out_at_once_and_keeps_the_chat_order(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    """A call made while the chat still has queued sends waits its turn behind them."""
    sender = make_sender(limits=FAST)
    queued = [sender.send(ALICE, _text(ALICE, f"queued {i}")) for i in range(3)]

    direct = await asyncio.wait_for(sender.call(ALICE, _text(ALICE, "direct")), 5)
    await asyncio.gather(*queued)

    assert direct.text == "direct"
    assert [s.text for s in fake.sent_to(ALICE)] == ["queued 0", "queued 1", "queued 2", "direct"]


async def test_call_keeps_the_per_chat_pace(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    fake.enforce_limits = True
    sender = make_sender()  # Telegram's real limits: a burst, then one message a second
    burst = RateLimits().chat_burst

    for i in range(burst + 2):
        await asyncio.wait_for(sender.call(ALICE, _text(ALICE, f"a{i}")), 5)

    times = [s.time - fake.sent_to(ALICE)[0].time for s in fake.sent_to(ALICE)]
    for extra, at in enumerate(times[burst:], start=1):
        assert at >= extra - 0.05, times
    assert fake.limit_violations == 0


async def test_call_survives_429_and_server_errors_through_the_queue(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=FAST, retry=QUICK_RETRY)
    fake.fail_next("sendMessage", 429, retry_after=1, chat_id=ALICE)
    fake.fail_next("sendMessage", 502, count=2, chat_id=BOB)

    alice, bob = await asyncio.wait_for(
        asyncio.gather(
            sender.call(ALICE, _text(ALICE, "hello")), sender.call(BOB, _text(BOB, "hi"))
        ),
        5,
    )

    assert (alice.text, bob.text) == ("hello", "hi")
    assert [s.text for s in fake.sent_to(ALICE)] == ["hello"]
    assert [s.text for s in fake.sent_to(BOB)] == ["hi"]
    assert sender.stats.rate_limited == 1 and sender.stats.retried >= 2


async def test_call_to_a_chat_that_blocked_the_bot_raises_and_reports_it(
    fake: FakeTelegram, school: FakeBot, bot: Bot, make_sender: Callable[..., BotSender]
) -> None:
    reported: list[tuple[int, int]] = []
    sender = make_sender(limits=FAST, on_blocked=lambda b, c: reported.append((b, c)))
    fake.block_user(school, ALICE)

    with pytest.raises(TelegramForbiddenError):
        await asyncio.wait_for(sender.call(ALICE, _text(ALICE, "anyone there?")), 5)

    assert reported == [(bot.id, ALICE)]
    assert (await sender.call(BOB, _text(BOB, "fine"))).text == "fine"


# ---- bursts, 429s and calls beside a chat, in virtual time ------------------------------------


class Recorder:
    """Calls that note the virtual time they were made at, under a name."""

    def __init__(self, clock: SteppedClock) -> None:
        self.clock = clock
        self.made: list[tuple[str, float]] = []

    def __call__(self, name: str, error: Exception | None = None) -> Callable[[], Any]:
        async def make() -> str:
            self.made.append((name, self.clock.now()))
            if error is not None:
                raise error
            return name

        return make

    def times(self, name: str) -> list[float]:
        return [t for n, t in self.made if n == name]


def _retry_after(seconds: int) -> TelegramRetryAfter:
    return TelegramRetryAfter(
        method=SendMessage(chat_id=ALICE, text="x"),
        message="Too Many Requests",
        retry_after=seconds,
    )


async def test_a_chat_gets_its_burst_at_once_then_one_message_a_second(
    make_sender: Callable[..., BotSender],
) -> None:
    clock = SteppedClock()
    sender = make_sender(clock=clock, limits=RateLimits(bot_burst=10, chat_burst=3))
    made = Recorder(clock)

    futures = [sender.send(ALICE, made(f"m{i}")) for i in range(5)]
    await settle()
    assert [n for n, _ in made.made] == ["m0", "m1", "m2"]  # a three-message step, whole
    for _ in range(2):
        await clock.advance(1.0)
    await asyncio.gather(*futures)

    assert made.made == [("m0", 0.0), ("m1", 0.0), ("m2", 0.0), ("m3", 1.0), ("m4", 2.0)]


async def test_429_is_obeyed_to_the_second_even_with_a_burst_banked(
    make_sender: Callable[..., BotSender],
) -> None:
    clock = SteppedClock()
    sender = make_sender(clock=clock)  # the chat has its whole burst banked
    made = Recorder(clock)
    refused_once = [_retry_after(5)]

    async def flaky() -> str:
        made.made.append(("alice", clock.now()))
        if refused_once:
            raise refused_once.pop()
        return "alice"

    alice = sender.send(ALICE, flaky)
    await settle()
    bob = sender.send(BOB, made("bob"))
    await clock.advance(4.9)
    assert made.made == [("alice", 0.0)]  # nothing at all while the bot is paused
    await clock.advance(0.1)
    assert await alice == "alice" and await bob == "bob"

    assert made.times("alice") == [0.0, 5.0] and made.times("bob") == [5.0]
    assert sender.stats.rate_limited == 1


async def test_a_call_beside_the_chat_neither_waits_for_nor_delays_its_messages(
    make_sender: Callable[..., BotSender],
) -> None:
    """An acknowledgement goes out at once, though the chat's one token (burst 1) is spent
    and a message waits in its queue; then the chat's messages go at their own pace."""
    clock = SteppedClock()
    sender = make_sender(clock=clock, limits=RateLimits(chat_burst=1))
    made = Recorder(clock)

    first = sender.send(ALICE, made("first"))
    second = sender.send(ALICE, made("second"))
    ack = sender.send_outside_chat(ALICE, made("ack"))
    await settle()
    assert await ack == "ack" and await first == "first"
    assert sorted(made.made) == [("ack", 0.0), ("first", 0.0)]
    await clock.advance(1.0)
    assert await second == "second"
    assert made.times("second") == [1.0]

    # A pressed button, then its reply: the acknowledgement spends none of the chat's pace.
    await clock.advance(1.0)
    ack = sender.send_outside_chat(ALICE, made("ack 2"))
    assert await sender.call(ALICE, made("reply")) == "reply"
    assert await ack == "ack 2"
    assert sorted(made.made[-2:]) == [("ack 2", 2.0), ("reply", 2.0)]


async def test_calls_beside_chats_keep_the_bot_pace(
    make_sender: Callable[..., BotSender],
) -> None:
    clock = SteppedClock()
    sender = make_sender(clock=clock, limits=RateLimits(bot_per_second=1.0, bot_burst=1))
    made = Recorder(clock)

    acks = [sender.send_outside_chat(c, made("ack")) for c in (ALICE, BOB, ALICE)]
    await settle()
    for _ in range(2):
        await clock.advance(1.0)
    await asyncio.gather(*acks)

    assert made.times("ack") == [0.0, 1.0, 2.0]


async def test_a_failed_call_beside_the_chat_leaves_the_chat_alone(
    make_sender: Callable[..., BotSender],
) -> None:
    clock = SteppedClock()
    reported: list[tuple[int, int]] = []
    sender = make_sender(clock=clock, on_blocked=lambda b, c: reported.append((b, c)))
    made = Recorder(clock)
    forbidden = TelegramForbiddenError(
        method=SendMessage(chat_id=ALICE, text="x"), message="Forbidden: bot was blocked"
    )

    ack = sender.send_outside_chat(ALICE, made("ack", forbidden))
    message = sender.send(ALICE, made("message"))
    with pytest.raises(TelegramForbiddenError):
        await ack
    assert await message == "message"  # still delivered: the chat was not dropped
    assert reported == [] and sender.stats.blocked_chats == 0

    # A 429 on it pauses the bot as any 429 does (Telegram's flood wait is the bot's).
    await clock.advance(1.0)
    flooded = sender.send_outside_chat(ALICE, made("ack 2", _retry_after(3)))
    with pytest.raises(TelegramRetryAfter):
        await flooded
    later = sender.send(BOB, made("later"))
    await clock.advance(3.0)
    assert await later == "later"
    assert made.times("later") == [4.0]


async def test_bulk_calls_go_after_every_chat_call_within_the_bot_pace(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    """A broadcast's calls wait while any chat's call could go instead, and still keep the
    bot to 30 a second together with them."""
    fake.enforce_limits = True
    sender = make_sender()
    bulk = [sender.send(c, _text(c, "news"), bulk=True) for c in range(5000, 5030)]
    await asyncio.sleep(0.2)  # the broadcast is under way
    replies = [sender.send(c, _text(c, "reply")) for c in range(6000, 6010)]
    await asyncio.wait_for(asyncio.gather(*bulk, *replies), 10)

    times = {s.chat_id: s.time for s in fake.sent}
    replied_by = max(times[c] for c in range(6000, 6010))
    news_after = [c for c in range(5000, 5030) if times[c] > replied_by]
    assert len(news_after) >= 15, "the replies went first, not behind the broadcast"
    assert replied_by - min(times[c] for c in range(6000, 6010)) < 0.5
    assert fake.limit_violations == 0


async def test_a_student_who_writes_gets_their_bulk_call_moved_ahead(
    fake: FakeTelegram, make_sender: Callable[..., BotSender]
) -> None:
    sender = make_sender(limits=RateLimits(bot_per_second=10))
    bulk = {c: sender.send(c, _text(c, "news"), bulk=True) for c in range(7000, 7040)}
    await asyncio.sleep(0.1)
    sender.promote(7039)  # the last one in the broadcast's line wrote to the bot
    reply = sender.send(7039, _text(7039, "reply"))
    await asyncio.wait_for(reply, 2)  # 40 at 10/s would take 4 s
    order = [s.text for s in fake.sent_to(7039)]
    assert order == ["news", "reply"]  # the chat's own order still holds
    await asyncio.wait_for(asyncio.gather(*bulk.values()), 10)
