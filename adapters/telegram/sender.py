"""Per-bot outgoing queue that keeps within Telegram's flood limits and survives its errors.

Telegram answers a bot that sends too fast with 429 and, if it keeps going, with longer and
longer bans; aiogram raises `TelegramRetryAfter` but never retries. So every call a bot makes
to a chat goes through one `BotSender`, which

- paces sends with token buckets: ≈30/s for the bot, 1/s per private chat, 20/min per group,
  each letting a short burst through at once after a quiet spell (see `RateLimits`);
- keeps each chat's calls in order (one in flight per chat: a lesson's messages must not
  arrive shuffled) while different chats run concurrently and take turns, so a chat with a
  long backlog never holds up a student who is waiting for one reply;
- on 429 pauses the whole bot for `retry_after` and retries the same call (Telegram's flood
  wait is per bot, and pushing other chats meanwhile only earns longer waits);
- on 5xx or network errors retries with exponential backoff and jitter, a bounded number of
  times (a timed-out call may have been delivered: that retry is at-least-once);
- on 403 (the user blocked the bot, or it was removed from the group) reports the chat via
  `on_blocked`, drops the chat's queued calls, and carries on with everyone else;
- makes calls that put nothing into a chat (answering a callback query) at once, paced by
  the bot's bucket only, beside the chat's messages rather than queued among them;
- keeps bulk calls (a broadcast's messages) in a lane of their own, started only when no
  chat's call could start instead: they spend what course traffic leaves of the bot's rate,
  and a student who writes meanwhile gets their bulk message moved ahead (`promote`), so
  their reply is not held behind it.

It knows nothing of courses or the database: it takes aiogram method objects or callables
and hands back a future per call, resolving to Telegram's result (e.g. the Message carrying a
poll id). Time comes from an injectable `Clock`, so the pacing can be tested without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod

from observability.logs import bind_log_ids
from observability.metrics import SendOutcome, count_send

log = logging.getLogger(__name__)

T = TypeVar("T")
Sendable = TelegramMethod[T] | Callable[[], Awaitable[T]]
OnBlocked = Callable[[int, int], Awaitable[None] | None]
_MIN_SWEEP = 1024  # chats tracked before the first sweep of idle ones


@dataclass(frozen=True)
class RateLimits:
    """Sustained sends per second (per minute for groups), Telegram's published figures, and
    the bursts a quiet bot or chat may send at once before settling to them.

    Telegram's bot FAQ: in one chat "avoid sending more than one message per second. We may
    allow short bursts that go over this limit, but eventually you'll begin receiving 429
    errors"; to different chats "not more than 30 messages per second or so"; to one group
    20 per minute. It publishes no burst size, so the bursts are small: a step of a few
    messages (a text, a poll, its buttons) arrives whole instead of one per second, and a
    pressed button's acknowledgement goes out together with the reply's first message.
    A 429 is still obeyed to the second it names.
    """

    bot_per_second: float = 30.0
    bot_burst: int = 2
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: float = 20.0  # no burst: Telegram's figure is already per minute
    # Bulk calls (broadcasts) alone keep this far under the bot's rate: a bot that sends at
    # the very ceiling for minutes is one network hiccup from a 429, which pauses all of it
    # for a second or more; the headroom lets Telegram's bucket refill between hiccups.
    bulk_share: float = 0.95

    def __post_init__(self) -> None:
        if min(self.bot_per_second, self.chat_per_second, self.group_per_minute) <= 0:
            raise ValueError("send rates must be positive")
        if min(self.bot_burst, self.chat_burst) < 1:
            raise ValueError("bursts must be at least one message")
        if not 0 < self.bulk_share <= 1:
            raise ValueError("bulk_share is a share of the bot's rate: above 0, at most 1")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for 5xx/network errors: attempt n waits ≈ base·2ⁿ⁻¹ (capped), half jittered."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass
class SenderStats:
    sent: int = 0
    rate_limited: int = 0  # 429 answers (a queued call is retried, one beside a chat is not)
    retried: int = 0  # retries after 5xx / network errors
    failed: int = 0  # calls that ended in an error (including blocked chats)
    blocked_chats: int = 0
    dropped: int = 0  # queued calls dropped because their chat blocked the bot


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The event loop's monotonic clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ChatBlocked(Exception):
    """A queued call dropped because the chat blocked the bot before it was sent."""

    def __init__(self, bot_id: int, chat_id: int) -> None:
        super().__init__(f"chat {chat_id} blocked bot {bot_id}")
        self.bot_id = bot_id
        self.chat_id = chat_id


class SenderClosed(RuntimeError):
    """`send` after `close`: the caller must not assume the call will ever be made."""


class TokenBucket:
    """`rate` tokens per second, at most `capacity` banked: after a quiet spell `capacity`
    sends go at once, then one every 1/rate seconds."""

    def __init__(self, rate: float, now: float, capacity: int = 1) -> None:
        self._rate = rate
        self._capacity = float(capacity)
        self._tokens = self._capacity
        self._updated = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def ready_at(self, now: float) -> float:
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:
            return now
        return now + (1.0 - self._tokens) / self._rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self._capacity - 1e-9


@dataclass
class _Job:
    chat_id: int
    call: Any
    future: asyncio.Future[Any]
    attempts: int = 0


@dataclass
class _Chat:
    bucket: TokenBucket
    queue: deque[_Job] = field(default_factory=deque)
    not_before: float = 0.0  # set by 429 / backoff: the head job waits until then
    busy: bool = False  # a call to this chat is in flight
    scheduled: bool = False  # has an entry in the ready heap


def _consume_exception(future: asyncio.Future[Any]) -> None:
    # Fire-and-forget callers never read the error; the sender has logged it already.
    if not future.cancelled():
        future.exception()


class BotSender:
    """The outgoing queue of one bot. Create one per bot; call `close()` when done."""

    def __init__(
        self,
        bot: Bot,
        *,
        bot_id: int | None = None,
        limits: RateLimits | None = None,
        retry: RetryPolicy | None = None,
        on_blocked: OnBlocked | None = None,
        clock: Clock | None = None,
        jitter: Callable[[], float] = random.random,
        max_in_flight: int = 30,
    ) -> None:
        self._bot = bot
        self.bot_id = bot.id if bot_id is None else bot_id
        self._limits = limits or RateLimits()
        self._retry = retry or RetryPolicy()
        self._on_blocked = on_blocked
        self._clock = clock or LoopClock()
        self._jitter = jitter
        self._max_in_flight = max_in_flight
        self.stats = SenderStats()
        self._chats: dict[int, _Chat] = {}
        self._queued = 0
        self._sweep_at = _MIN_SWEEP
        self._ready: list[tuple[float, int, int]] = []  # (ready_at, seq, chat_id) heap
        self._bulk: deque[_Job] = deque()  # broadcast calls: only when no chat's call can go
        self._bulk_bucket: TokenBucket | None = None
        self._seq = itertools.count()
        self._bot_bucket: TokenBucket | None = None
        self._paused_until = 0.0
        self._in_flight: dict[asyncio.Task[None], _Job] = {}
        self._inline = 0  # calls being made in their callers' tasks (see `call`)
        self._outside: set[asyncio.Task[Any]] = set()  # see `send_outside_chat`
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # ---- public API -----------------------------------------------------------------------

    def send(self, chat_id: int, call: Sendable[T], *, bulk: bool = False) -> asyncio.Future[T]:
        """Queue a call to `chat_id`; the future resolves to its result or its final error.

        `call` is an aiogram method object (`SendMessage(...)`) or a zero-argument coroutine
        function, invoked once per attempt. Cancelling the future before the call is made
        withdraws it. `bulk`: a broadcast's call, made only when no chat's call could go
        instead (see `promote`).
        """
        if self._closed:
            raise SenderClosed(f"sender of bot {self.bot_id} is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume_exception)
        job = _Job(chat_id, call, future)
        self._queued += 1
        self._idle.clear()
        if bulk:
            self._bulk.append(job)
            self._wakeup.set()
        else:
            chat = self._chat(chat_id)
            chat.queue.append(job)
            self._schedule(chat_id, chat)
        self._start_worker()
        return future

    def promote(self, chat_id: int) -> None:
        """The chat's student wrote: their bulk calls join the chat's own queue, so the
        reply their chat is about to send does not wait behind the whole broadcast."""
        if not any(job.chat_id == chat_id for job in self._bulk):
            return
        chat = self._chat(chat_id)
        for job in [job for job in self._bulk if job.chat_id == chat_id]:
            self._bulk.remove(job)
            chat.queue.append(job)
        self._schedule(chat_id, chat)

    async def call(self, chat_id: int, call: Sendable[T], *, bulk: bool = False) -> T:
        """Make a call and wait for its result: `send` and await, with the same pacing,
        order and error handling, but made right away in the caller's own task when the
        chat has nothing queued or in flight and the limits allow a call now (a task per
        call, and the queue's bookkeeping, were a tenth of the runtime's CPU under load,
        docs/benchmarks.md). A call that must be retried goes through the queue."""
        if self._closed:
            raise SenderClosed(f"sender of bot {self.bot_id} is closed")
        if bulk:
            return await self.send(chat_id, call, bulk=True)
        chat = self._chat(chat_id)
        now = self._clock.now()
        bucket = self._bucket(now)
        if (
            chat.busy
            or chat.queue
            or chat.scheduled
            or max(chat.not_before, self._paused_until) > now
            or len(self._in_flight) + self._inline >= self._max_in_flight
            or bucket.ready_at(now) > now
            or chat.bucket.ready_at(now) > now
        ):
            return await self.send(chat_id, call)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_consume_exception)
        self._take_turn(chat, now)
        self._inline += 1
        self._idle.clear()
        try:
            await self._attempt(_Job(chat_id, call, future), chat)
        finally:
            self._inline -= 1
            self._set_idle_if_done()
        if not future.done():  # to be retried: it waits in the chat's queue now
            self._start_worker()
        return await future

    def send_outside_chat(self, chat_id: int, call: Sendable[T]) -> asyncio.Future[T]:
        """Make a call that puts nothing into the chat (answering a callback query) at once,
        in a task of its own; the future resolves to its result or its error.

        Telegram's per-chat pace counts messages in the chat, so this call neither waits
        behind the chat's queued messages nor spends the chat's tokens; it spends one of the
        bot's, waiting only if the bot's bucket is empty or Telegram paused the bot. It is
        made once: what it does is cosmetic (a button's spinner stops) and a late retry
        would be pointless, so a failure is logged and goes no further than its future,
        never touching the chat's queue; a 429 still pauses the bot, as any other does.
        `chat_id` only labels its log lines.
        """
        if self._closed:
            raise SenderClosed(f"sender of bot {self.bot_id} is closed")
        task = asyncio.create_task(self._outside_chat(chat_id, call))
        self._outside.add(task)
        task.add_done_callback(self._outside.discard)
        task.add_done_callback(_consume_exception)
        return task

    async def _outside_chat(self, chat_id: int, call: Sendable[T]) -> T:
        while True:  # the bot's bucket is shared with the queue's worker: check again
            now = self._clock.now()
            start = max(self._bucket(now).ready_at(now), self._paused_until)
            if start <= now:
                break
            await self._clock.sleep(start - now)
        self._bucket(now).take(now)
        try:
            result = await self._invoke(call)
        except TelegramRetryAfter as error:
            self._obey(error, chat_id)
            raise
        except Exception as error:
            count_send(SendOutcome.FAILED)
            self.stats.failed += 1
            log.warning(
                "bot %s: call beside chat %s failed: %s", self.bot_id, chat_id, self._redact(error)
            )
            raise
        self.stats.sent += 1
        count_send(SendOutcome.SENT)
        return result

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name=f"sender-{self.bot_id}")

    def _take_turn(self, chat: _Chat, now: float) -> None:
        """A call to `chat` starts now: it spends a token of the bot and of the chat, and
        the chat has it in flight until the attempt ends."""
        self._bucket(now).take(now)
        chat.bucket.take(now)
        chat.busy = True

    def _bucket(self, now: float) -> TokenBucket:
        if self._bot_bucket is None:
            limits = self._limits
            self._bot_bucket = TokenBucket(limits.bot_per_second, now, limits.bot_burst)
        return self._bot_bucket

    @property
    def queued(self) -> int:
        """Calls waiting to be made (not counting those in flight)."""
        return self._queued

    async def close(self, *, drain: bool = True, timeout: float = 10.0) -> None:
        """Stop accepting calls; with `drain`, first give queued ones up to `timeout` seconds.

        Whatever is still queued or in flight afterwards is cancelled (its future too).
        """
        self._closed = True
        if drain and not self._idle.is_set():
            await self._race(self._idle.wait(), timeout)
        for chat in self._chats.values():
            for job in chat.queue:
                job.future.cancel()
            chat.queue.clear()
        for job in self._bulk:
            job.future.cancel()
        self._bulk.clear()
        self._queued = 0
        for job in self._in_flight.values():
            job.future.cancel()  # a task cancelled before it ever ran can't do this itself
        tasks = [*self._in_flight, *self._outside, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- scheduling -----------------------------------------------------------------------

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            # Negative ids are groups, supergroups and channels.
            limits = self._limits
            bucket = (
                TokenBucket(limits.group_per_minute / 60.0, self._clock.now())
                if chat_id < 0
                else TokenBucket(limits.chat_per_second, self._clock.now(), limits.chat_burst)
            )
            chat = self._chats[chat_id] = _Chat(bucket)
        return chat

    def _schedule(self, chat_id: int, chat: _Chat) -> None:
        """Put the chat in the ready heap if it has work and nothing in flight."""
        if chat.busy or chat.scheduled or not chat.queue:
            return
        ready_at = max(chat.bucket.ready_at(self._clock.now()), chat.not_before)
        heapq.heappush(self._ready, (ready_at, next(self._seq), chat_id))
        chat.scheduled = True
        self._wakeup.set()

    async def _run(self) -> None:
        self._bucket(self._clock.now())
        while True:
            delay = self._dispatch()
            if delay is None:
                await self._wakeup.wait()
            else:
                await self._race(self._wakeup.wait(), delay)
            self._wakeup.clear()

    def _dispatch(self) -> float | None:
        """Start every call allowed now; return how long until the next one may start
        (None: nothing to do until a call is queued or one in flight finishes)."""
        assert self._bot_bucket is not None
        while (self._ready or self._bulk) and len(self._in_flight) + self._inline < (
            self._max_in_flight
        ):
            now = self._clock.now()
            bot_start = max(self._bot_bucket.ready_at(now), self._paused_until)
            bulk_start = max(bot_start, self._bulk_pace(now).ready_at(now))
            if not self._ready:
                if bulk_start > now:
                    return bulk_start - now
                self._dispatch_bulk(now)
                continue
            ready_at, _, chat_id = self._ready[0]
            start = max(ready_at, bot_start)
            if start > now:
                if self._bulk and bulk_start <= now:
                    self._dispatch_bulk(now)
                    continue
                return min(start, bulk_start if self._bulk else start) - now
            heapq.heappop(self._ready)
            chat = self._chats[chat_id]
            chat.scheduled = False
            if not chat.queue:  # its calls were dropped when it blocked the bot
                continue
            job = chat.queue.popleft()
            self._queued -= 1
            if job.future.done():  # withdrawn by the caller
                self._schedule(chat_id, chat)
                self._set_idle_if_done()
                continue
            self._take_turn(chat, now)
            task = asyncio.create_task(self._attempt_in_task(job, chat))
            self._in_flight[task] = job
            task.add_done_callback(self._finished)
        return None

    def _dispatch_bulk(self, now: float) -> None:
        """Start the oldest bulk call (the bot's bucket allows one now). Its chat, if busy
        or out of its own pace, takes it into its queue, in order with its own calls."""
        job = self._bulk.popleft()
        chat = self._chat(job.chat_id)
        if job.future.done():  # withdrawn by the caller
            self._queued -= 1
            self._set_idle_if_done()
            return
        if (
            chat.busy
            or chat.scheduled
            or chat.queue
            or max(chat.bucket.ready_at(now), chat.not_before) > now
        ):
            chat.queue.append(job)
            self._schedule(job.chat_id, chat)
            return
        self._queued -= 1
        self._bulk_pace(now).take(now)
        self._take_turn(chat, now)
        task = asyncio.create_task(self._attempt_in_task(job, chat))
        self._in_flight[task] = job
        task.add_done_callback(self._finished)

    def _bulk_pace(self, now: float) -> TokenBucket:
        if self._bulk_bucket is None:
            limits = self._limits
            self._bulk_bucket = TokenBucket(limits.bot_per_second * limits.bulk_share, now)
        return self._bulk_bucket

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._set_idle_if_done()
        self._wakeup.set()

    def _set_idle_if_done(self) -> None:
        if not self._in_flight and not self._inline and not self._queued:
            self._idle.set()

    def _sweep(self) -> None:
        """Forget chats with nothing pending and a full bucket: they carry no state (a fresh
        bucket is the same), and a chat that wrote once a month must not cost memory forever.
        Runs when the table doubles, so its cost is amortised over the sends that grew it."""
        now = self._clock.now()
        for chat_id, chat in list(self._chats.items()):
            if (
                not (chat.queue or chat.busy or chat.scheduled)
                and chat.not_before <= now
                and chat.bucket.is_full(now)
            ):
                del self._chats[chat_id]
        self._sweep_at = 2 * len(self._chats) + _MIN_SWEEP

    async def _race(self, awaitable: Awaitable[Any], timeout: float) -> None:
        """Wait for `awaitable` or `timeout` seconds of the injected clock, whichever first."""
        waiter = asyncio.ensure_future(awaitable)
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    # ---- one attempt ----------------------------------------------------------------------

    async def _attempt_in_task(self, job: _Job, chat: _Chat) -> None:
        # A queued attempt is a task of its own: these ids label only its log lines.
        bind_log_ids(bot_id=self.bot_id, chat_id=job.chat_id, run_id=None)
        await self._attempt(job, chat)

    async def _invoke(self, call: Sendable[T]) -> T:
        if isinstance(call, TelegramMethod):
            return await self._bot(call)
        return await call()

    async def _attempt(self, job: _Job, chat: _Chat) -> None:
        try:
            result = await self._invoke(job.call)
        except asyncio.CancelledError:
            job.future.cancel()
            raise
        except TelegramRetryAfter as error:
            self._retry_later(job, chat, self._obey(error, job.chat_id))
        except TelegramForbiddenError as error:
            count_send(SendOutcome.BLOCKED)
            await self._blocked(job, chat, error)
        except (TelegramServerError, TelegramNetworkError) as error:
            job.attempts += 1
            if job.attempts >= self._retry.max_attempts:
                count_send(SendOutcome.FAILED)
                self._fail(job, error)
            else:
                self.stats.retried += 1
                count_send(SendOutcome.RETRIED)
                self._retry_later(job, chat, self._clock.now() + self._backoff(job.attempts))
        except Exception as error:  # any failure belongs to this call only
            count_send(SendOutcome.FAILED)
            self._fail(job, error)
        else:
            self.stats.sent += 1
            count_send(SendOutcome.SENT)
            if not job.future.done():
                job.future.set_result(result)
        finally:
            chat.busy = False
            self._schedule(job.chat_id, chat)

    def _obey(self, error: TelegramRetryAfter, chat_id: int) -> float:
        """Pause the whole bot for the `retry_after` Telegram named; when the pause ends."""
        self.stats.rate_limited += 1
        count_send(SendOutcome.RATE_LIMITED)
        until = self._clock.now() + error.retry_after
        self._paused_until = max(self._paused_until, until)
        log.warning(
            "bot %s hit flood control at chat %s: pausing %ss",
            self.bot_id,
            chat_id,
            error.retry_after,
        )
        return until

    def _retry_later(self, job: _Job, chat: _Chat, not_before: float) -> None:
        chat.queue.appendleft(job)  # same call, still first: the chat's order holds
        self._queued += 1
        chat.not_before = not_before

    def _backoff(self, attempt: int) -> float:
        delay = min(self._retry.max_delay, self._retry.base_delay * 2 ** (attempt - 1))
        return delay / 2 + self._jitter() * delay / 2

    def _fail(self, job: _Job, error: BaseException) -> None:
        self.stats.failed += 1
        log.warning(
            "bot %s: call to chat %s failed: %s", self.bot_id, job.chat_id, self._redact(error)
        )
        if not job.future.done():
            job.future.set_exception(error)

    async def _blocked(self, job: _Job, chat: _Chat, error: TelegramForbiddenError) -> None:
        self.stats.blocked_chats += 1
        self._fail(job, error)
        dropped = list(chat.queue)
        chat.queue.clear()
        self._queued -= len(dropped)
        self.stats.dropped += len(dropped)
        for queued in dropped:
            if not queued.future.done():
                queued.future.set_exception(ChatBlocked(self.bot_id, job.chat_id))
        if self._on_blocked is None:
            return
        try:
            outcome = self._on_blocked(self.bot_id, job.chat_id)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("bot %s: on_blocked failed for chat %s", self.bot_id, job.chat_id)

    def _redact(self, error: BaseException) -> str:
        # Some aiohttp errors quote the request URL, and the URL holds the bot token.
        return f"{type(error).__name__}: {error}".replace(self._bot.token, "<token>")
