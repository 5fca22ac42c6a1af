"""The Telegram runtime of one process: the bot pool, the journal, the timer scheduler, the
broadcast feeder and the listener that wakes chats for other producers' events.

With `leases` (a runner among several, DESIGN §8) the pool hosts the bots this runner's
leases name, the journal applies nothing for a bot whose lease it lost, and stopping hands
every lease back at once so that the other runners take the bots over within a round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from redis.asyncio import Redis

from adapters.llm import LLMClient
from adapters.payments import AccessHook, PaymentService
from adapters.telegram.bot_runtime import BotConfig, BotRuntime, RuntimeOptions
from adapters.telegram.collector import CollectorTuning
from adapters.telegram.paid_access import paid_access
from adapters.telegram.pool import BotPool
from adapters.telegram.position_mirror import PositionMirror
from adapters.telegram.response_types import pin_response_types
from botapi.bot_factory import SessionPools
from courses.workers import CourseWorkers
from runtime.broadcasts import BroadcastFeeder
from runtime.course_cache import CourseCache
from runtime.inbox_listener import InboxListener
from runtime.journal import Journal
from runtime.leases import LeaseKeeper
from runtime.outreach import OutreachSweeps
from runtime.scheduler import TimerScheduler
from storage.crypto import SecretBox
from storage.db import Database

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class TelegramRuntime:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        redis: Redis,
        options: RuntimeOptions,
        *,
        workers: CourseWorkers,
        llm: LLMClient | None = None,
        clock: Callable[[], datetime] = utc_now,
        reconcile_interval_s: float = 1.0,
        session_pools: SessionPools | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        """`workers` build big courses (the caller owns them: the panel shares them);
        `session_pools` replaces the HTTP pools (benchmarks: an in-process Bot API); the
        caller then owns them and closes them."""
        self._db = db
        self._options = options
        self._llm = llm
        self._clock = clock
        self.courses = CourseCache(workers)
        # Set before start() when payments are configured (the payments service itself needs
        # this runtime's paid-access hook, so it is built after the runtime).
        self.payments: PaymentService | None = None
        self._given_pools = session_pools
        self._pools: SessionPools | None = None
        self.leases = leases
        self._reconcile_interval_s = reconcile_interval_s
        self.pool = BotPool(
            db, box, self._make_bot_runtime, interval_s=reconcile_interval_s, leases=leases
        )
        self.scheduler = TimerScheduler(db, clock)
        self.outreach = OutreachSweeps(db, clock)
        self._listener = InboxListener(
            db,
            self.pool.kick_inbox,
            kick_update=self.pool.kick_update,
            on_lease=leases.notified if leases is not None else None,
        )
        self.journal = Journal(
            db,
            self.courses,
            clock,
            concurrency=options.journal_concurrency,
            fence=leases,
        )
        self.broadcasts = BroadcastFeeder(
            db, clock, lambda: [bot.hosted for bot in self.pool.hosted], self.pool.hand_event
        )
        self._mirror = PositionMirror(redis)
        self._tasks: list[asyncio.Task[None]] = []
        self._db_slots = asyncio.Semaphore(options.max_concurrent_chats)
        self._collector = CollectorTuning()

    def _make_bot_runtime(self, config: BotConfig) -> BotRuntime:
        assert self._pools is not None, "runtime not started"
        return BotRuntime(
            config,
            db=self._db,
            journal=self.journal,
            mirror=self._mirror,
            pools=self._pools,
            courses=self.courses,
            llm=self._llm,
            payments=self.payments,
            options=self._options,
            clock=self._clock,
            db_slots=self._db_slots,
            on_conflict=self.leases.wake.set if self.leases is not None else None,
        )

    @property
    def paid_access(self) -> AccessHook:
        """The hook the payments service calls when a student gains or loses access: it
        writes the change into the chat's inbox, for the journal."""
        return paid_access

    async def start(self) -> None:
        pin_response_types()
        self._pools = self._given_pools or SessionPools.create(self._options.api_base)
        self.journal.start()
        self._mirror.start()
        await self._listener.connect()
        await self.pool.reconcile()
        self._tasks = [
            asyncio.create_task(self._listener.run(), name="inbox-events"),
            asyncio.create_task(self.pool.run(), name="bot-pool"),
            asyncio.create_task(self.pool.sweep(self._options.sweep_interval_s), name="sweeps"),
            asyncio.create_task(self.scheduler.run(), name="timers"),
            asyncio.create_task(self.outreach.run(), name="outreach"),
            asyncio.create_task(self.broadcasts.run(), name="broadcasts"),
        ]
        if self.leases is not None:
            renewing = self.leases.keep_renewed(self._reconcile_interval_s)
            self._tasks.append(asyncio.create_task(renewing, name="lease-renewal"))
        self._collector.apply()

    async def stop(self) -> None:
        self._collector.restore()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.pool.stop_all()
        if self.leases is not None:
            await self._leave()
        await self.journal.stop()
        await self.courses.close()
        await self._mirror.stop()
        if self._pools is not None and self._pools is not self._given_pools:
            await self._pools.close()
        self._pools = None

    async def _leave(self) -> None:
        """Hand the leases back (every bot stopped already); a database that cannot be
        reached leaves them to expire, which the other runners wait out."""
        assert self.leases is not None
        try:
            await self.leases.leave()
        except Exception as exc:
            log.warning("could not hand the bot leases back (%s); they expire on their own", exc)
