"""Group commit: the database work of many chats, of every hosted bot, in one transaction.

Each update needs durable steps (store it before Telegram is confirmed; advance the run and
queue its messages; record each message Telegram accepted), and one transaction per step
cost more CPU than everything else an update needs (docs/benchmarks.md). So the runtime
hands those steps to the journal as items and awaits them; a few journal workers each take
every item queued so far and commit them together with a fixed handful of set-based
statements (storage/batch.py). Under load, batches grow by themselves: whatever arrives
while one commits goes into the next.

A polled update of an idle chat is stored and handled by one item (`StoreItem.handle`):
storing and handling were two commits in a row before its reply could go out, and a commit
(the WAL flush) is most of an idle reply's time (docs/benchmarks.md). When that item comes
to a quiet journal and this process holds the run's state, it is one statement without a
transaction around it (`Batch.run_alone`): five round trips fewer before the reply.

Nothing changes in what is durable or when: an item's future resolves only after its batch
committed. Items of one chat never share a batch (a chat's worker awaits each before the
next), so the order within a chat is the order of its items.

One item must never sink the others. Our code failing on an update (the engine, say) fails
that item alone, inside the batch: its update is recorded as processed with the error. A
statement PostgreSQL refuses fails the whole batch; its items are then committed one by one,
and only the item that fails alone is settled as failed. A database that is down or
restarting fails every item of the batch with that error, leaving all of it to be retried.

Nor may one account's course hold the others up: a batch that needs a course still being
built is rolled back (journal_batch.CoursesLoading); its other items go again at once, and
the items that need the course wait aside, their futures pending, until its build (in a
worker process) is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from engine.events import Event
from observability.metrics import observe_batch
from runtime.course_cache import CourseCache
from runtime.hosted_bot import HostedBot
from runtime.journal_batch import Batch, CoursesLoading, Fence
from runtime.journal_items import (
    Arrival,
    HandleItem,
    HandleResult,
    IncomingUpdate,
    Item,
    OutboxRow,
    SentItem,
    SentOutcome,
    Stored,
    StoreItem,
    StoreOutcome,
    SweepItem,
)
from runtime.state_cache import StateCache
from storage.batch import BatchConnection, ChatsWithWork
from storage.db import Database, is_transient_failure

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 512
# Under load a batch waits this long for more items before it starts: fewer, larger batches
# cost less CPU per item (each batch runs the same handful of statements), and the wait is
# short against the queueing a saturated process has anyway. A quiet runtime never waits.
GATHER_S = 0.002
BUSY_BATCH_ITEMS = 32


class Journal:
    def __init__(
        self,
        db: Database,
        courses: CourseCache,
        clock: Callable[[], datetime],
        *,
        concurrency: int = 2,
        fence: Fence | None = None,
    ) -> None:
        """`concurrency` batches may be committing at once, each on a connection of its
        own: while PostgreSQL works on one, the next one gathers. `fence`: with several
        runners, the bots whose lease this runner holds (runtime/leases.py)."""
        self._fence = fence
        self._db = db
        self._courses = courses
        self._states = StateCache()
        self._clock = clock
        self._concurrency = concurrency
        self._queue: list[Item] = []
        self._parked: set[Item] = set()  # waiting for their course to be built
        self._committing = 0  # batches being committed now
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []

    # ---- what the runtime asks ---------------------------------------------------------

    async def store(
        self,
        bot: HostedBot,
        updates: Sequence[IncomingUpdate],
        *,
        touch: bool = False,
        handle: bool = False,
    ) -> list[Stored]:
        """Store updates in the inbox, in order; one outcome per update. `touch`: also set
        the bot's `last_update_at` (for the panel's eyes, so not on every update).
        `handle`: handle the updates marked `handle` in the same transaction where it can
        (`Stored.handled`); each must be its chat's next one, with no worker on the chat."""
        return await self._submit(StoreItem(bot, updates, touch, handle))

    async def sweep(self, bot: HostedBot) -> ChatsWithWork:
        """The bot's chats with work left (a crash, an outage or another runner's)."""
        return await self._submit(SweepItem(bot))

    async def handle(self, bot: HostedBot, chat_id: int, arrival: Arrival) -> HandleResult | None:
        """Handle a stored update of a chat; None when it is not the chat's next one (handled
        elsewhere already, or an older update of the chat is still unprocessed)."""
        return await self._submit(HandleItem(bot, chat_id, arrival))

    async def sent(
        self,
        bot: HostedBot,
        row: OutboxRow,
        event: Event | None,
        files: tuple[tuple[str, str], ...] = (),
    ) -> SentOutcome:
        """Record that Telegram accepted an outbox row and, if it was still pending, feed
        `event` to its run; keep the file ids Telegram returned for its media links."""
        return await self._submit(SentItem(bot, row, event, files))

    @property
    def queued(self) -> int:
        """Items waiting for a batch (for /metrics)."""
        return len(self._queue)

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"journal-{n}") for n in range(self._concurrency)
        ]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        for item in [*self._queue, *self._parked]:
            item.future.cancel()
        self._queue.clear()
        self._parked.clear()

    async def _submit(self, item: Item) -> Any:
        self._queue.append(item)
        self._wake.set()
        return await item.future

    # ---- batches -----------------------------------------------------------------------

    async def _work(self) -> None:
        connection: BatchConnection | None = None
        busy = False
        try:
            while True:
                await self._wake.wait()
                if busy:
                    await asyncio.sleep(GATHER_S)
                items = self._queue[:MAX_BATCH_ITEMS]
                del self._queue[:MAX_BATCH_ITEMS]
                if not self._queue:
                    self._wake.clear()
                items = [item for item in items if not item.future.done()]
                busy = len(items) >= BUSY_BATCH_ITEMS
                if not items:
                    continue
                # Alone only when nothing else is going on: under load, a statement of its
                # own would take the update out of the group commit that carries it cheaper.
                alone = not self._committing and not self._queue
                self._committing += 1
                try:
                    connection = await self._commit(connection, items, alone=alone)
                finally:
                    self._committing -= 1
        finally:
            if connection is not None:
                await connection.close()

    async def _commit(
        self, connection: BatchConnection | None, items: list[Item], *, alone: bool = False
    ) -> BatchConnection | None:
        """Commit `items` (falling back to one at a time); the connection to use next.
        `alone`: an idle chat's update may go as one statement (`Batch.run_alone`)."""
        started = time.perf_counter()
        try:
            if connection is None or connection.closed:
                connection = await self._db.connect_batch()
            results = await self._batch(connection, items).run_alone() if alone else None
            if results is None:
                results = await self._batch(connection, items).run()
        except asyncio.CancelledError:
            _fail(items, asyncio.CancelledError())
            raise
        except CoursesLoading as loading:
            self._park(items, loading)
            return connection
        except Exception as exc:
            if is_transient_failure(exc):
                log.warning("a journal batch failed (%s); its work will be retried", exc)
                if connection is not None:
                    await connection.close()
                _fail(items, exc)
                return None
            if len(items) > 1:
                for item in items:
                    connection = await self._commit(connection, [item])
                return connection
            return await self._settle_alone(connection, items[0], exc)
        observe_batch(len(items), time.perf_counter() - started)
        for item, result in results.items():
            if not item.future.done():
                item.future.set_result(result)
        return connection

    def _batch(self, connection: BatchConnection, items: list[Item]) -> Batch:
        return Batch(
            connection, items, self._courses, self._states, self._clock(), fence=self._fence
        )

    def _park(self, items: list[Item], loading: CoursesLoading) -> None:
        """The batch was rolled back: its items go again, those waiting for a course once
        it is built."""
        for store in loading.unhandle:
            store.handle = False  # stored alone now; its chats' workers wait for the course
        self._requeue([item for item in items if item not in loading.waits])
        for item, build in loading.waits.items():
            self._parked.add(item)
            build.add_done_callback(partial(self._unpark, item))

    def _unpark(self, item: Item, _parsed: object = None) -> None:
        if item in self._parked:
            self._parked.discard(item)
            self._requeue([item])

    def _requeue(self, items: list[Item]) -> None:
        """Ahead of what came later: these were taken first."""
        if items:
            self._queue[:0] = items
            self._wake.set()

    async def _settle_alone(
        self, connection: BatchConnection | None, item: Item, error: Exception
    ) -> BatchConnection | None:
        """An item PostgreSQL refuses even on its own."""
        if isinstance(item, StoreItem) and item.handle:
            item.handle = False  # only stored: the chat's worker handles (or settles) it
            return await self._commit(connection, [item])
        if isinstance(item, StoreItem) and len(item.updates) > 1:
            outcomes: list[Stored] = []
            for update in item.updates:
                single = StoreItem(item.bot, [update], item.touch)
                connection = await self._commit(connection, [single])
                outcomes.extend(await single.future)
            item.future.set_result(outcomes)
            return connection
        if isinstance(item, StoreItem) and content_refused(error):
            log.warning(
                "bot %s: update %s could not be stored; ignored",
                item.bot.bot_id,
                item.updates[0].update_id,
            )
            item.future.set_result([Stored(StoreOutcome.REFUSED)])
            return connection
        if isinstance(item, HandleItem):
            log.error(
                "bot %s: update %s failed: %s", item.bot.bot_id, item.arrival.update_id, error
            )
            return await self._commit_failure(connection, item, error)
        if isinstance(item, SentItem) and item.event is not None:
            log.error(
                "bot %s: outbox %s result not applied: %s", item.bot.bot_id, item.row.id, error
            )
            plain = SentItem(item.bot, item.row, None)
            connection = await self._commit(connection, [plain])
            _chain(plain.future, item.future)
            return connection
        item.future.set_exception(error)
        return connection

    async def _commit_failure(
        self, connection: BatchConnection | None, item: HandleItem, error: Exception
    ) -> BatchConnection | None:
        """Record the update as processed with its error, so it never wedges its chat."""
        try:
            if connection is None or connection.closed:
                connection = await self._db.connect_batch()
            failed = f"{type(error).__name__}: {error}"[:500]
            results = await self._batch(connection, [item]).run(failed=failed)
        except Exception as exc:
            if connection is not None and is_transient_failure(exc):
                await connection.close()
                connection = None
            _fail([item], exc)
            return connection
        item.future.set_result(results[item])
        return connection


def content_refused(error: BaseException) -> bool:
    """PostgreSQL rejected the data itself (SQLSTATE class 22, data exception; 54, too
    large): skipping it is right. Anything else means "not stored yet", and the update must
    stay unconfirmed so that Telegram delivers it again."""
    sqlstate = getattr(getattr(error, "orig", error), "sqlstate", None) or ""
    return sqlstate[:2] in ("22", "54")


def _fail(items: Sequence[Item], error: BaseException) -> None:
    for item in items:
        if item.future.done():
            continue
        if isinstance(error, asyncio.CancelledError):
            item.future.cancel()
        else:
            item.future.set_exception(error)


def _chain(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
