"""Everything one hosted bot runs: intake (polling or webhook), per-chat workers, sender.

Intake stores updates in the inbox (through the journal, batched with every other bot's
work) and hands each one to its chat's worker; the worker handles the chat's updates one at
a time, in order, and delivers the messages each one queued before taking the next.

The fast lane keeps the stored updates in memory, so handling needs no read: the journal
claims an update only while it is its chat's oldest unprocessed one, and otherwise the chat
falls back to the database lane, which reads the chat's inbox in order (work left by a
crash or by another runner, or an update whose claim failed) and hands it to the journal.

Each kick says which lane may have work, so a worker never opens a transaction only to find
nothing. The hints live in memory; the periodic sweep re-derives them from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import AnswerCallbackQuery, DeleteWebhook, SetWebhook

from adapters.llm import LLMClient
from adapters.payments import PaymentService
from adapters.telegram.arrivals import Arrivals
from adapters.telegram.chat_workers import ChatWorkers
from adapters.telegram.delivery import (
    TYPING_INTERVAL_S,
    Delivery,
    DeliveryPaused,
    EventWaiting,
)
from adapters.telegram.handling import Handled, InboxReader
from adapters.telegram.keys import AccountBotKeyBuilder
from adapters.telegram.lean_methods import LeanGetUpdates
from adapters.telegram.menu import register_menu
from adapters.telegram.position_mirror import PositionMirror
from adapters.telegram.sender import BotSender, Clock, RateLimits
from adapters.telegram.updates import read_update, translate
from botapi.bot_factory import SessionPools, make_bot
from observability.logs import bind_log_ids, log_context
from observability.metrics import Backlog, count_conflict, count_handled, count_received
from runtime.course_cache import CourseCache
from runtime.hosted_bot import HostedBot
from runtime.journal import Journal
from runtime.journal_items import (
    Arrival,
    HandleResult,
    IncomingUpdate,
    OutboxRow,
    StoreOutcome,
)
from runtime.run_position import RunPosition
from storage import inbox_events
from storage.db import Database
from storage.inbox_events import Blocked
from storage.repositories import outbox

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "poll_answer"]
# `bot.last_update_at` is for the panel's eyes: refreshing it on every update cost a
# statement (and a lock on the bot row) per update.
LAST_UPDATE_EVERY_S = 10.0


@dataclass(frozen=True)
class BotConfig:
    """A bot row as the pool sees it; any change of these restarts the bot's runtime."""

    bot_id: int
    account_id: int
    username: str
    token: str
    mode: str
    public_id: str
    webhook_secret: str | None
    default_deployment_id: int | None

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        return (
            self.account_id,
            self.username,
            self.token,
            self.mode,
            self.webhook_secret,
            self.default_deployment_id,
        )

    def __repr__(self) -> str:  # the token must never reach a log
        return f"BotConfig(bot_id={self.bot_id}, username={self.username!r}, mode={self.mode!r})"


@dataclass(frozen=True)
class RuntimeOptions:
    api_base: str | None = None
    public_base_url: str | None = None
    poll_timeout_s: int = 25
    rate_limits: RateLimits = field(default_factory=RateLimits)
    sender_clock: Clock | None = None  # what paces the senders; tests pass a virtual one
    sweep_interval_s: float = 5.0
    # Database-lane sessions at once in the whole process (see BotRuntime); below the DB
    # pool size. The fast lane goes through the journal and needs none.
    max_concurrent_chats: int = 16
    # Journal batches committing at once, each on a connection of its own.
    journal_concurrency: int = 2
    # "typing…" is re-sent this often during an LLM call (Telegram clears it after ~5 s).
    typing_interval_s: float = TYPING_INTERVAL_S


def storable_payload(raw: dict[str, Any]) -> str:
    """The update as JSON text for PostgreSQL: JSONB refuses NUL characters, which a hostile
    client can put in a message text, so they are dropped. A lone surrogate (not encodable
    as UTF-8) is written escaped, as the standard library does; PostgreSQL then refuses the
    update, and intake skips it (see the journal)."""
    try:
        text = orjson.dumps(raw).decode()
    except TypeError:
        return json.dumps(_without_nul(raw))
    return orjson.dumps(_without_nul(raw)).decode() if "\\u0000" in text else text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _handled(arrival: Arrival, result: HandleResult, *, more: bool) -> Handled:
    return Handled(
        arrival.update_id, result.callback_query_id, result.position, more, result.pending
    )


def _last_update_id(updates: list[dict[str, Any]], offset: int | None) -> int:
    """The highest update id of a getUpdates answer (ids that are not ints are skipped:
    Telegram never sends those, but a broken answer must not stop the bot's intake)."""
    ids = [u["update_id"] for u in updates if type(u.get("update_id")) is int]
    return max(ids, default=(offset or 1) - 1)


def conflict_backoff(conflicts: int) -> float:
    """Pause after the n-th 409 in a row: 1 s, doubling to 30 s, with up to 25% jitter so
    that two pollers of one token do not keep colliding in step."""
    base = min(30.0, float(2 ** min(conflicts - 1, 5)))
    return base * (1 + random.random() / 4)


class BotRuntime:
    def __init__(
        self,
        config: BotConfig,
        *,
        db: Database,
        journal: Journal,
        mirror: PositionMirror,
        pools: SessionPools,
        courses: CourseCache,
        llm: LLMClient | None,
        payments: PaymentService | None,
        options: RuntimeOptions,
        clock: Callable[[], datetime],
        db_slots: asyncio.Semaphore,
        on_conflict: Callable[[], None] | None = None,
    ) -> None:
        """`db_slots` is shared by every bot of the process: the database lane's sessions
        held at once, so it must stay below the pool's size (the journal has its own
        connections). `on_conflict`: Telegram says another getUpdates polls this bot (the
        pool then checks its lease at once)."""
        self.config = config
        self._on_conflict = on_conflict
        self.hosted = HostedBot(
            config.bot_id, config.account_id, config.username, config.default_deployment_id
        )
        self._db = db
        self._journal = journal
        self._mirror = mirror
        self._options = options
        self._clock = clock
        self._db_slots = db_slots
        self._send_bot = make_bot(config.token, options.api_base, session=pools.sending)
        self._poll_bot = make_bot(config.token, options.api_base, session=pools.polling)
        self.sender = BotSender(
            self._send_bot,
            bot_id=config.bot_id,
            limits=options.rate_limits,
            clock=options.sender_clock,
            on_blocked=self._on_blocked,
        )
        self._keys = AccountBotKeyBuilder(config.account_id, config.bot_id)
        self._inbox = InboxReader(db)
        # chats with another producer's event in the inbox: applied before more is sent
        self._event_hint: set[int] = set()
        self._delivery = Delivery(
            db,
            self.hosted,
            self._send_bot,
            self.sender,
            courses,
            llm,
            journal,
            db_slots,
            payments,
            typing_interval_s=options.typing_interval_s,
            event_waiting=self._event_hint.__contains__,
        )
        self.workers = ChatWorkers(self._work_chat, enter=self._enter_chat)
        self._arrivals = Arrivals()  # the fast lane: stored updates, per chat, in order
        self._inbox_hint: set[int] = set()  # chats whose next update must be read from the DB
        self._outbox_hint: set[int] = set()  # chats that may have unsent messages
        # chats whose update was handled as it was stored: for the worker to finish
        self._handled_early: dict[int, tuple[Arrival, HandleResult]] = {}
        self.backlog = Backlog()  # as of the last sweep, for /metrics
        self._tasks: list[asyncio.Task[None]] = []
        self._touched_at = -math.inf  # monotonic time `last_update_at` was last written

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.mode == "webhook":
            await self._register_webhook()
        else:
            await self._poll_bot(DeleteWebhook(drop_pending_updates=False))
            self._tasks.append(asyncio.create_task(self._poll(), name=f"poll-{self.config.bot_id}"))
        # In the background: a start must not wait for Telegram's answer about the menu.
        menu = register_menu(self._send_bot, self._db, self.hosted, self._db_slots)
        self._tasks.append(asyncio.create_task(menu, name=f"menu-{self.config.bot_id}"))
        # Work left by a crash is picked up at once; later sweeps come from the pool's sweeper.
        # Awaited, not a task: the pool starts bots a few at a time, and a thousand sweeps
        # queueing for connections at once held a session each (docs/benchmarks.md).
        await self.sweep_once()
        log.info(
            "bot %s (@%s) started in %s mode",
            self.config.bot_id,
            self.config.username,
            self.config.mode,
        )

    async def stop(self, grace_s: float = 0.0) -> None:
        """Intake stops at once; chats at work get `grace_s` to finish their round."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.workers.close(grace_s)
        await self.sender.close(drain=False)
        log.info("bot %s stopped", self.config.bot_id)

    async def _register_webhook(self) -> None:
        base = self._options.public_base_url
        if not base:
            log.error(
                "bot %s is in webhook mode but COURSEBOT_PUBLIC_URL is not set", self.config.bot_id
            )
            return
        await self._poll_bot(
            SetWebhook(
                url=f"{base.rstrip('/')}/telegram/webhook/{self.config.public_id}",
                secret_token=self.config.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        )

    # ---- intake ----------------------------------------------------------------------------

    async def ingest(self, updates: list[Any], *, handle: bool = False) -> int:
        """Store updates (JSON objects as received) durably, duplicates dropped, then hand
        them to their chats; how many of them were updates at all.

        `handle` (polling): the first update of each idle chat (no worker on it, nothing of
        it waiting) is handled in the transaction that stores it, so its reply needs one
        commit instead of two; its chat's worker then only acknowledges and delivers. A
        webhook answers Telegram as soon as the update is stored, so it does not.

        An update PostgreSQL cannot store even on its own is logged and skipped, so one
        hostile update can never stall the bot's intake; so is one that is not an update at
        all. Any other failure (PostgreSQL down or restarting) raises: nothing is confirmed
        to Telegram, which delivers it again.
        """
        incoming = []
        seen: set[int] = set()  # chats with an update earlier in this answer
        for raw in updates:
            update = read_update(raw)
            if update is None:
                log.warning("bot %s: malformed update ignored", self.config.bot_id)
                continue
            inbound = translate(update)
            chat_id = inbound.chat_id if inbound is not None else None
            at_once = handle and chat_id is not None and chat_id not in seen and self._idle(chat_id)
            if chat_id is not None:
                seen.add(chat_id)
            incoming.append(
                IncomingUpdate(update.update_id, chat_id, storable_payload(raw), inbound, at_once)
            )
        if not incoming:
            return 0
        touch = time.monotonic() - self._touched_at >= LAST_UPDATE_EVERY_S
        started = time.perf_counter()
        outcomes = await self._journal.store(
            self.hosted, incoming, touch=touch, handle=any(u.handle for u in incoming)
        )
        if touch:
            self._touched_at = time.monotonic()
        count_received(
            self.config.account_id,
            sum(o.outcome is StoreOutcome.STORED for o in outcomes),
            sum(o.outcome is StoreOutcome.DUPLICATE for o in outcomes),
        )
        for came, stored in zip(incoming, outcomes, strict=True):
            if stored.outcome is not StoreOutcome.STORED or came.inbound is None:
                continue
            assert stored.inbox_id is not None
            chat_id = came.inbound.chat_id
            self.sender.promote(chat_id)  # a broadcast's message must not hold the reply
            arrival = Arrival(stored.inbox_id, came.update_id, came.inbound)
            if stored.handled is not None:
                count_handled(
                    self.config.account_id,
                    ok=stored.handled.ok,
                    seconds=time.perf_counter() - started,
                )
                self._take_handled(chat_id, arrival, stored.handled)
                continue
            if not self._arrivals.add(chat_id, arrival):
                self._inbox_hint.add(chat_id)
            self.workers.kick(chat_id)
        return len(incoming)

    def kick_update(self, chat_id: int) -> None:
        """A Telegram update of the chat was stored by another process (a panel's webhook
        ingress): read it from the inbox, in the chat's order."""
        self._inbox_hint.add(chat_id)
        self.workers.kick(chat_id)

    def _idle(self, chat_id: int) -> bool:
        """Nothing of the chat is in progress or waiting (as far as memory knows): an update
        of it may be handled as soon as it is stored."""
        return not (
            self.workers.is_running(chat_id)
            or self._arrivals.has(chat_id)
            or chat_id in self._handled_early
            or chat_id in self._inbox_hint
            or chat_id in self._outbox_hint
        )

    def _take_handled(self, chat_id: int, arrival: Arrival, result: HandleResult) -> None:
        """An update handled as it was stored: its chat's worker acknowledges it and
        delivers what it queued. The messages read in its transaction go straight to
        delivery only if nothing else may have sent them since (a worker started on the
        chat meanwhile, say by a sweep): otherwise they are read again."""
        if self.workers.is_running(chat_id) or chat_id in self._outbox_hint:
            result = result._replace(pending=[])
            self._outbox_hint.add(chat_id)
        self._handled_early[chat_id] = (arrival, result)
        self.workers.kick(chat_id)

    def kick_inbox(self, chat_id: int) -> None:
        """An event was written into the chat's inbox (a timer, a payment, the panel): the
        chat's delivery stops after the message on its way, so that the event (a stop, say)
        is applied before the rest goes out."""
        self._inbox_hint.add(chat_id)
        self._event_hint.add(chat_id)
        self.workers.kick(chat_id)

    def take_event(self, chat_id: int, arrival: Arrival) -> None:
        """An event for the chat that this process wrote and hands over in memory (a
        broadcast's message): handled in the fast lane, as an update is. Unlike `kick_inbox`
        it does not stop the chat's delivery: it changes no run."""
        if not self._arrivals.add(chat_id, arrival):
            self._inbox_hint.add(chat_id)
        self.workers.kick(chat_id)

    async def _poll(self) -> None:
        bind_log_ids(account_id=self.config.account_id, bot_id=self.config.bot_id)
        offset: int | None = None
        failures = 0
        conflicts = 0
        while True:
            try:
                # LeanGetUpdates answers plain JSON objects; aiogram types it as GetUpdates'.
                updates = cast(
                    list[dict[str, Any]],
                    await self._poll_bot(
                        LeanGetUpdates(
                            offset=offset,
                            timeout=self._options.poll_timeout_s,
                            allowed_updates=ALLOWED_UPDATES,
                        ),
                        request_timeout=self._options.poll_timeout_s + 10,
                    ),
                )
                if updates:
                    await self.ingest(updates, handle=True)
                    # Only now, with the updates stored, the next getUpdates confirms them.
                    offset = _last_update_id(updates, offset) + 1
                failures = conflicts = 0
            except asyncio.CancelledError:
                raise
            except TelegramConflictError:
                # Another getUpdates polls this bot: a runner whose lease ran out and has not
                # stopped yet, or another installation with the same token. Never a tight
                # loop: back off, doubling, while the pool re-checks the lease.
                conflicts += 1
                count_conflict()
                if self._on_conflict is not None:
                    self._on_conflict()
                delay = conflict_backoff(conflicts)
                log.warning(
                    "bot %s: another getUpdates polls this bot (409); retry in %.1fs",
                    self.config.bot_id,
                    delay,
                )
                await asyncio.sleep(delay)
            except TelegramUnauthorizedError:
                log.error("bot %s: Telegram rejected its token; polling stops", self.config.bot_id)
                return
            except Exception as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning(
                    "bot %s: getUpdates failed (%s); retry in %.1fs",
                    self.config.bot_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def sweep_once(self) -> None:
        """Kick chats with leftover work: after a crash, a Telegram outage, another runner.

        Chats whose worker is running are left alone: their unprocessed updates and unsent
        messages are the ones in flight. Called once at start and then by `BotPool.sweep`,
        which paces every hosted bot's sweeps together: one loop per bot swept a thousand
        bots in the same instant every interval (docs/benchmarks.md)."""
        account_id, bot_id = self.config.account_id, self.config.bot_id
        with log_context(account_id=account_id, bot_id=bot_id):  # runs in the pool's task
            try:
                work = await self._journal.sweep(self.hosted)
                self.backlog = Backlog(len(work.inbox), len(work.outbox))
                for chat in work.inbox | work.outbox:
                    if self.workers.is_running(chat):
                        continue
                    if chat in work.inbox and not self._arrivals.has(chat):
                        self._inbox_hint.add(chat)
                    if chat in work.outbox:
                        self._outbox_hint.add(chat)
                    self.workers.kick(chat)
            except Exception:
                log.exception("bot %s: backlog sweep failed", bot_id)

    # ---- per-chat work ---------------------------------------------------------------------

    async def _work_chat(self, chat: Hashable) -> None:
        """Deliver what is pending, then handle the chat's next update and deliver what it
        queued (handed over by its own transaction, not read again). One update per round:
        with more waiting the chat is kicked again and queues behind the other chats."""
        chat_id = int(chat)  # type: ignore[call-overload]  # chat workers are keyed by chat id
        bind_log_ids(run_id=None)  # each delivered message sets its run's
        if chat_id in self._outbox_hint and not await self._deliver(chat_id, None):
            return
        arrival = self._arrivals.first(chat_id)
        early = self._handled_early.pop(chat_id, None)
        handled: Handled | None
        if early is not None:
            handled = _handled(*early, more=self._arrivals.has(chat_id))
        elif chat_id in self._inbox_hint:
            handled = await self._handle_from_database(chat_id)
        elif arrival is not None:
            handled = await self._handle_arrival(chat_id, arrival)
        else:
            return
        if handled is None:
            return
        if handled.callback_query_id is not None:
            await self._acknowledge(chat_id, handled.callback_query_id)
        if handled.position is not None:
            self._remember_position(chat_id, handled.position)
        if handled.pending and not await self._deliver(chat_id, handled.pending):
            return
        if handled.more:
            self.workers.kick(chat_id)  # we are running: this asks for another round

    async def _acknowledge(self, chat_id: int, callback_query_id: str) -> None:
        """Stop the pressed button's spinner now. The answer is no message in the chat: it
        goes beside the chat's messages, not queued before them (where it spent the chat's
        pace and held the reply back), and whatever becomes of it never touches them."""
        self.sender.send_outside_chat(
            chat_id, AnswerCallbackQuery(callback_query_id=callback_query_id)
        )
        await asyncio.sleep(0)  # its request starts before the reply's first message

    def _enter_chat(self, chat: Hashable) -> None:
        """The chat's own worker task: the ids end with it."""
        chat_id = int(chat)  # type: ignore[call-overload]  # chat workers are keyed by chat id
        bind_log_ids(account_id=self.config.account_id, bot_id=self.config.bot_id, chat_id=chat_id)

    async def _handle_arrival(self, chat_id: int, arrival: Arrival) -> Handled | None:
        """The fast lane: the update is in memory, the journal claims and handles it."""
        result = await self._handle(chat_id, arrival)
        self._arrivals.pop_first(chat_id)
        if result is None:
            # Handled elsewhere, or an older update of the chat waits: the database knows.
            self._inbox_hint.add(chat_id)
            self.workers.kick(chat_id)
            return None
        return _handled(arrival, result, more=self._arrivals.has(chat_id))

    async def _handle_from_database(self, chat_id: int) -> Handled | None:
        """The database lane: the chat's oldest unprocessed update, read from the inbox."""
        self._inbox_hint.discard(chat_id)
        self._event_hint.discard(chat_id)
        async with self._db_slots:
            found = await self._inbox.oldest(self.hosted, chat_id)
        if found is None:
            return None
        arrival, more = found
        result = await self._handle(chat_id, arrival)
        self._arrivals.drop_through(chat_id, arrival.update_id)
        if more and not self._arrivals.has(chat_id):
            self._inbox_hint.add(chat_id)  # what waits is not in memory: read it next round
        if result is None:  # another runner took it meanwhile
            if more:
                self.workers.kick(chat_id)
            return None
        return _handled(arrival, result, more=more or self._arrivals.has(chat_id))

    async def _handle(self, chat_id: int, arrival: Arrival) -> HandleResult | None:
        started = time.perf_counter()
        result = await self._journal.handle(self.hosted, chat_id, arrival)
        if result is not None and arrival.event is None:  # Telegram's updates, not events
            elapsed = time.perf_counter() - started
            count_handled(self.config.account_id, ok=result.ok, seconds=elapsed)
        return result

    async def _deliver(self, chat_id: int, pending: Sequence[OutboxRow] | None) -> bool:
        """Send the chat's pending messages (`pending`: already read in this transaction's
        snapshot). False when Telegram keeps failing: updates then wait, so order is kept,
        and the sweep tries again later."""
        self._outbox_hint.discard(chat_id)
        try:
            await self._delivery.deliver_chat(chat_id, pending)
        except DeliveryPaused:
            self._outbox_hint.add(chat_id)
            return False
        except EventWaiting:
            self._outbox_hint.add(chat_id)  # the rest goes out once the event is applied
        return True

    def _remember_position(self, chat_id: int, position: RunPosition) -> None:
        """Mirror where the student is into the bot's FSM keys: a cache for operators and
        tools only; PostgreSQL stays the source of truth, so flushing Redis loses nothing."""
        key = self._keys.build(StorageKey(self.config.bot_id, chat_id, chat_id), "state")
        state = None if position.finished else f"run:{position.run_id}:{position.element}"
        self._mirror.put(key, state)

    async def _on_blocked(self, bot_id: int, chat_id: int) -> None:
        """Give up the chat's unsent messages and ask the journal to end its run as
        `blocked` (an event in the chat's inbox, applied in the run's order)."""
        account_id = self.config.account_id
        async with self._db.tenant(account_id) as session:
            await outbox.fail_pending_for_chat(
                session, account_id, bot_id, chat_id, error=outbox.BLOCKED_ERROR
            )
            await inbox_events.post(session, account_id, bot_id, chat_id, Blocked())
        log.info("bot %s: chat %s blocked the bot; its run ends as blocked", bot_id, chat_id)
