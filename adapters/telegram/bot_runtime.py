"""Everything one hosted bot runs: intake (polling or webhook), per-chat workers, sender.

Intake only stores updates in the inbox and kicks their chat; a chat's worker then delivers
what is pending for it, handles its next update, and so on until the chat is quiet. Both
halves read from PostgreSQL, so intake and work may even run in different processes.

Each kick says which half may have work (an update stored, or messages queued by a timer,
a payment or another runner), so a worker never opens a transaction only to find nothing:
with ~6 transactions per update those empty looks were a third of them (docs/benchmarks.md).
The hints live in memory; the periodic sweep re-derives them from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.methods import AnswerCallbackQuery, DeleteWebhook, GetUpdates, SetWebhook
from aiogram.types import Update
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from adapters.llm import LLMClient
from adapters.observability.logs import bind_log_ids, log_context
from adapters.observability.metrics import Backlog, count_received
from adapters.payments import PaymentService
from adapters.telegram.bot_factory import SessionPools, make_bot
from adapters.telegram.chat_workers import ChatWorkers
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.delivery import TYPING_INTERVAL_S, Delivery, DeliveryPaused
from adapters.telegram.enrollment import HostedBot
from adapters.telegram.handling import UpdateHandler
from adapters.telegram.keys import make_storage
from adapters.telegram.sender import BotSender, RateLimits
from adapters.telegram.transitions import RunPosition
from adapters.telegram.updates import chat_of
from storage.db import Database
from storage.models import Outbox, RunStatus
from storage.repositories import bots as bot_repo
from storage.repositories import inbox, outbox, runs

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
    sweep_interval_s: float = 5.0
    # Chats worked on at once in the whole process (see BotRuntime); below the DB pool size.
    max_concurrent_chats: int = 16
    # "typing…" is re-sent this often during an LLM call (Telegram clears it after ~5 s).
    typing_interval_s: float = TYPING_INTERVAL_S


def storable_payload(update: Update) -> dict[str, Any]:
    """The update as JSON PostgreSQL accepts: JSONB refuses NUL characters, which a hostile
    client can put in a message text, so they are dropped."""
    return _without_nul(update.model_dump(mode="json", exclude_none=True))


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def content_refused(error: DBAPIError) -> bool:
    """PostgreSQL rejected the update's data (SQLSTATE class 22, data exception; 54, too
    large): skipping it is right. Anything else (57P01 shutting down, 57P03 starting up,
    08xxx connection) means "not stored yet", and the update must stay unconfirmed so that
    Telegram delivers it again."""
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return sqlstate[:2] in ("22", "54")


class BotRuntime:
    def __init__(
        self,
        config: BotConfig,
        *,
        db: Database,
        redis: Redis,
        pools: SessionPools,
        courses: CourseCache,
        llm: LLMClient | None,
        payments: PaymentService | None,
        options: RuntimeOptions,
        clock: Callable[[], datetime],
        chat_slots: asyncio.Semaphore,
    ) -> None:
        """`chat_slots` is shared by every bot of the process: chats worked on at once, each
        holding a database connection at times, so it must stay below the pool's size."""
        self.config = config
        self.hosted = HostedBot(
            config.bot_id, config.account_id, config.username, config.default_deployment_id
        )
        self._db = db
        self._options = options
        self._clock = clock
        self._send_bot = make_bot(config.token, options.api_base, session=pools.sending)
        self._poll_bot = make_bot(config.token, options.api_base, session=pools.polling)
        self.sender = BotSender(
            self._send_bot,
            bot_id=config.bot_id,
            limits=options.rate_limits,
            on_blocked=self._on_blocked,
        )
        self._fsm: RedisStorage = make_storage(redis, config.account_id, config.bot_id)
        self._handler = UpdateHandler(db, courses, clock)
        self._delivery = Delivery(
            db,
            self.hosted,
            self._send_bot,
            self.sender,
            courses,
            llm,
            clock,
            payments,
            typing_interval_s=options.typing_interval_s,
        )
        self.workers = ChatWorkers(self._work_chat, slots=chat_slots)
        self._inbox_hint: set[int] = set()  # chats that may have unprocessed updates
        self._outbox_hint: set[int] = set()  # chats that may have unsent messages
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

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.workers.close()
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

    async def ingest(self, updates: list[Update]) -> None:
        """Store updates durably (duplicates dropped), then wake their chats.

        An update PostgreSQL cannot store even after cleaning is logged and skipped, so one
        hostile update can never stall the bot's intake.
        """
        batch = [(u.update_id, chat_of(u), storable_payload(u)) for u in updates]
        try:
            outcomes = await self._store(batch, guarded=False)
        except DBAPIError:
            # Some update PostgreSQL refuses: store the rest one savepoint at a time. Guarding
            # every update up front cost two round trips per update (docs/benchmarks.md).
            outcomes = await self._store(batch, guarded=True)
        count_received(
            self.config.account_id,
            sum(o == "stored" for o in outcomes),
            sum(o == "duplicate" for o in outcomes),
        )
        chats = {
            chat
            for (_, chat, _), outcome in zip(batch, outcomes, strict=True)
            if outcome == "stored" and chat is not None
        }
        for chat in chats:
            self._inbox_hint.add(chat)
            self.workers.kick(chat)

    def kick_outbox(self, chat_id: int) -> None:
        """Messages were queued for the chat outside its worker (timer, payment)."""
        self._outbox_hint.add(chat_id)
        self.workers.kick(chat_id)

    async def _store(
        self, batch: list[tuple[int, int | None, dict[str, Any]]], *, guarded: bool
    ) -> list[str]:
        """Insert the batch in one transaction: "stored", "duplicate" or (only when
        `guarded`) "refused" per update; unguarded, one refused update fails them all."""
        account_id, bot_id = self.config.account_id, self.config.bot_id
        outcomes: list[str] = []
        async with self._db.tenant(account_id) as session:

            async def store(update_id: int, chat_id: int | None, payload: dict[str, Any]) -> str:
                row = await inbox.store(
                    session,
                    account_id,
                    bot_id=bot_id,
                    update_id=update_id,
                    payload=payload,
                    chat_id=chat_id,
                )
                return "duplicate" if row is None else "stored"

            for update_id, chat_id, payload in batch:
                if not guarded:
                    outcomes.append(await store(update_id, chat_id, payload))
                    continue
                try:
                    async with session.begin_nested():
                        outcomes.append(await store(update_id, chat_id, payload))
                except DBAPIError as exc:
                    if not content_refused(exc):
                        raise  # PostgreSQL is down or restarting: confirm nothing to Telegram
                    log.warning("bot %s: update %s could not be stored; ignored", bot_id, update_id)
                    outcomes.append("refused")
            if batch and time.monotonic() - self._touched_at >= LAST_UPDATE_EVERY_S:
                await bot_repo.touch_last_update(session, account_id, bot_id)
                self._touched_at = time.monotonic()
        return outcomes

    async def _poll(self) -> None:
        bind_log_ids(account_id=self.config.account_id, bot_id=self.config.bot_id)
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self._poll_bot(
                    GetUpdates(
                        offset=offset,
                        timeout=self._options.poll_timeout_s,
                        allowed_updates=ALLOWED_UPDATES,
                    ),
                    request_timeout=self._options.poll_timeout_s + 10,
                )
                if updates:
                    await self.ingest(updates)
                    # Only now, with the updates stored, the next getUpdates confirms them.
                    offset = updates[-1].update_id + 1
                failures = 0
            except asyncio.CancelledError:
                raise
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

        Called once at start and then by `BotPool.sweep`, which paces every hosted bot's
        sweeps together: one loop per bot swept a thousand bots in the same instant every
        interval (docs/benchmarks.md)."""
        account_id, bot_id = self.config.account_id, self.config.bot_id
        with log_context(account_id=account_id, bot_id=bot_id):  # runs in the pool's task
            try:
                async with self._db.tenant(account_id) as session:
                    backlog = set(await inbox.chats_with_backlog(session, account_id, bot_id))
                    pending = set(await outbox.chats_with_pending(session, account_id, bot_id))
                self.backlog = Backlog(len(backlog), len(pending))
                self._inbox_hint.update(c for c in backlog if c is not None)
                self._outbox_hint.update(c for c in pending if c is not None)
                for chat in backlog | pending:
                    if chat is not None:
                        self.workers.kick(chat)
            except Exception:
                log.exception("bot %s: backlog sweep failed", bot_id)

    # ---- per-chat work ---------------------------------------------------------------------

    async def _work_chat(self, chat: Hashable) -> None:
        """Deliver what is pending, then handle the next update and deliver the messages it
        queued (handed over by its own transaction, not read again). One update per round:
        with more waiting the chat is kicked again and queues behind the other chats."""
        chat_id = int(chat)  # type: ignore[call-overload]
        # The chat's own worker task: the ids end with it; each step sets its run_id.
        account_id, bot_id = self.config.account_id, self.config.bot_id
        bind_log_ids(account_id=account_id, bot_id=bot_id, chat_id=chat_id, run_id=None)
        if chat_id in self._outbox_hint and not await self._deliver(chat_id, None):
            return
        if chat_id not in self._inbox_hint:
            return
        self._inbox_hint.discard(chat_id)  # a kick from now on sets it again
        handled = await self._handler.handle_next(self.hosted, chat_id)
        if handled is None:
            return
        if handled.callback_query_id is not None:
            self.sender.send(
                chat_id, AnswerCallbackQuery(callback_query_id=handled.callback_query_id)
            )
        if handled.position is not None:
            await self._remember_position(chat_id, handled.position)
        if handled.pending and not await self._deliver(chat_id, handled.pending):
            return
        if handled.more:
            self._inbox_hint.add(chat_id)
            self.workers.kick(chat_id)  # we are running: this asks for another round

    async def _deliver(self, chat_id: int, pending: list[Outbox] | None) -> bool:
        """Send the chat's pending messages (`pending`: already read in this transaction's
        snapshot). False when Telegram keeps failing: updates then wait, so order is kept,
        and the sweep tries again later."""
        self._outbox_hint.discard(chat_id)
        try:
            await self._delivery.deliver_chat(chat_id, pending)
        except DeliveryPaused:
            self._outbox_hint.add(chat_id)
            return False
        return True

    async def _remember_position(self, chat_id: int, position: RunPosition) -> None:
        """Mirror where the student is into the bot's FSM storage: a cache for operators and
        tools only; PostgreSQL stays the source of truth, so flushing Redis loses nothing."""
        key = StorageKey(bot_id=self.config.bot_id, chat_id=chat_id, user_id=chat_id)
        if position.finished:
            await self._fsm.set_state(key, None)
        else:
            await self._fsm.set_state(key, f"run:{position.run_id}:{position.element}")

    async def _on_blocked(self, bot_id: int, chat_id: int) -> None:
        account_id = self.config.account_id
        async with self._db.tenant(account_id) as session:
            await runs.finish_active_in_chat(
                session, account_id, bot_id, chat_id, RunStatus.BLOCKED, now=self._clock()
            )
            await outbox.fail_pending_for_chat(
                session, account_id, bot_id, chat_id, error="blocked by the user"
            )
        log.info("bot %s: chat %s blocked the bot; its run is marked blocked", bot_id, chat_id)
