"""One bot broadcasting to many chats through `BotSender`, against Telegram's flood limits.

The fake Bot API (tests/fakes/telegram_api.py) runs with `enforce_limits=True`: a bot that
sends faster than 30 a second, or a chat that gets more than one message a second, each
after a short burst, is answered with 429 as Telegram does. Real aiogram talks to it over
HTTP. The sender should come as close to the 30 msg/s ceiling as it can without a single
429.

The comparison row, measured in the same run, is what a bot does without a sender: aiogram
calls fired 30 at a time (aiogram's own concurrency habit), sleeping `retry_after` on 429.

    python -m benchmarks.sender [--small] [--chats N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage

from adapters.telegram.sender import BotSender, RateLimits
from benchmarks.report import Column, machine_line, ratio, render_table
from botapi.bot_factory import make_bot
from tests.fakes.telegram_api import FakeTelegram

CEILING = RateLimits().bot_per_second  # Telegram's ~30 messages per second per bot
FIRST_CHAT = 30_000_000


@dataclass(frozen=True)
class Broadcast:
    name: str
    messages: int  # delivered
    seconds: float  # first call -> last message delivered
    too_many_requests: int  # 429 answers the fake gave

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def _message(chat_id: int) -> SendMessage:
    return SendMessage(chat_id=chat_id, text="Lesson 2 is out: tap /start to continue")


async def with_sender(fake: FakeTelegram, bot: Bot, chats: list[int]) -> Broadcast:
    sender = BotSender(bot, bot_id=bot.id)
    violations = fake.limit_violations
    started = time.perf_counter()
    try:
        results = await asyncio.gather(*(sender.send(c, _message(c)) for c in chats))
    finally:
        await sender.close(drain=False)
    seconds = time.perf_counter() - started
    return Broadcast("BotSender", len(results), seconds, fake.limit_violations - violations)


async def without_sender(fake: FakeTelegram, bot: Bot, chats: list[int]) -> Broadcast:
    """The common hand-rolled broadcast: 30 calls in flight, sleep on 429 and try again."""
    slots = asyncio.Semaphore(30)
    violations = fake.limit_violations

    async def deliver(chat_id: int) -> None:
        async with slots:
            while True:
                try:
                    await bot(_message(chat_id))
                    return
                except TelegramRetryAfter as error:
                    await asyncio.sleep(error.retry_after)

    started = time.perf_counter()
    await asyncio.gather(*(deliver(c) for c in chats))
    seconds = time.perf_counter() - started
    return Broadcast(
        "aiogram, 30 in flight (no sender)", len(chats), seconds, fake.limit_violations - violations
    )


async def run(chat_count: int) -> list[Broadcast]:
    async with FakeTelegram(enforce_limits=True) as fake:
        rows = []
        for measure in (without_sender, with_sender):
            # A fresh bot per measurement: Telegram's flood windows are per bot.
            fake_bot = fake.add_bot()
            bot = make_bot(fake_bot.token, fake.base_url)
            chats = [FIRST_CHAT + i for i in range(chat_count)]
            try:
                rows.append(await measure(fake, bot, chats))
            finally:
                await bot.session.close()
            delivered = len({s.chat_id for s in fake.sent if s.bot_id == fake_bot.id})
            if delivered != chat_count:
                raise RuntimeError(f"{rows[-1].name}: {delivered} of {chat_count} chats got it")
        return rows


COLUMNS = (
    Column("broadcast", 36),
    Column("messages", 10, ","),
    Column("seconds", 9, ".1f"),
    Column("msg/s", 8, ".1f"),
    Column("vs 30/s ceiling", 17),
    Column("429s", 7, ","),
)


def render(rows: list[Broadcast]) -> str:
    table = [("Telegram ceiling (reference)", None, None, CEILING, "1.00x", None)]
    table += [
        (r.name, r.messages, r.seconds, r.rate, ratio(r.rate, CEILING), r.too_many_requests)
        for r in rows
    ]
    return render_table(COLUMNS, table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="60 chats instead of 1,000")
    parser.add_argument("--chats", type=int, help="chats to broadcast to (default 1,000)")
    args = parser.parse_args(argv)
    chats = args.chats or (60 if args.small else 1000)
    if chats < 1:
        parser.error("--chats must be at least 1")
    rows = asyncio.run(run(chats))
    print(f"one bot, {chats:,} chats, fake Bot API enforcing Telegram's limits; {machine_line()}")
    print(render(rows))
    sender = rows[-1]
    verdict = "met" if sender.too_many_requests == 0 else "NOT met"
    print(f"goal 0 x 429 with the sender: {verdict} ({sender.too_many_requests})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
