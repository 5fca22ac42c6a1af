"""Group commit: the database work of many chats, of every hosted bot, in one transaction.

Each update needs durable steps (store it before Telegram is confirmed; advance the run and
queue its messages; record each message Telegram accepted), and one transaction per step
cost more CPU than everything else an update needs (docs/benchmarks.md). So the runtime
hands those steps to the journal as items and awaits them; a few journal workers each take
every item queued so far and commit them together with a fixed handful of set-based
statements (storage/batch.py). Under load, batches grow by themselves: whatever arrives
while one commits goes into the next.

Nothing changes in what is durable or when: an item's future resolves only after its batch
committed. Items of one chat never share a batch (a chat's worker awaits each before the
next), so the order within a chat is the order of its items.

One item must never sink the others. Our code failing on an update (the engine, say) fails
that item alone, inside the batch: its update is recorded as processed with the error. A
statement PostgreSQL refuses fails the whole batch; its items are then committed one by one,
and only the item that fails alone is settled as failed. A database that is down or
restarting fails every item of the batch with that error, leaving all of it to be retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import orjson

from adapters.telegram.admission import Start, admit_starts
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.enrollment import HostedBot
from adapters.telegram.state_cache import KnownState, StateCache
from adapters.telegram.step_plan import Advance, Reply, StepWrites, plan_step, react
from adapters.telegram.transitions import RunPosition, load_state
from adapters.telegram.updates import Inbound, StartRequest
from engine import step
from engine.events import Event
from engine.events import Start as StartEvent
from storage.batch import (
    ActiveRun,
    BatchConnection,
    ChatKey,
    ChatsWithWork,
    NewMessage,
    NewUpdate,
    NewWait,
    PendingMessage,
    RunQuery,
    RunWrites,
)
from storage.db import Database, is_transient_failure

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 512
# Under load a batch waits this long for more items before it starts: fewer, larger batches
# cost less CPU per item (each batch runs the same handful of statements), and the wait is
# short against the queueing a saturated process has anyway. A quiet runtime never waits.
GATHER_S = 0.002
BUSY_BATCH_ITEMS = 32


class StoreOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # Telegram delivered it again: already stored
    REFUSED = "refused"  # PostgreSQL refused its content even alone: skipped


@dataclass(frozen=True, slots=True)
class IncomingUpdate:
    """An update to store: `payload` is its JSON; `inbound` what it means (None: nothing)."""

    update_id: int
    chat_id: int | None
    payload: str
    inbound: Inbound | None


@dataclass(frozen=True, slots=True)
class Stored:
    outcome: StoreOutcome
    inbox_id: int | None = None


@dataclass(frozen=True, slots=True)
class Arrival:
    """A stored, not yet handled update of a chat, as its worker takes it in (`inbound`
    None: it means nothing to a course, and is only marked processed)."""

    inbox_id: int
    update_id: int
    inbound: Inbound | None


@dataclass(frozen=True, slots=True)
class HandleResult:
    """`ok` False: our code failed on the update; it is recorded with its error and skipped.
    `pending`: the chat's unsent messages after the commit, oldest first, those this update
    queued included (delivery starts from these instead of reading them again)."""

    ok: bool
    callback_query_id: str | None
    position: RunPosition | None
    pending: list[PendingMessage]


class OutboxRow(Protocol):
    """An unsent message: a `models.Outbox` row, or a `batch.PendingMessage`."""

    id: int
    account_id: int
    chat_id: int
    run_id: int | None
    payload: dict[str, Any]


@dataclass(eq=False, slots=True)
class _Item:
    bot: HostedBot
    future: asyncio.Future[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.future = asyncio.get_running_loop().create_future()


@dataclass(eq=False, slots=True)
class _Store(_Item):
    updates: Sequence[IncomingUpdate]
    touch: bool  # record the time of the bot's latest update too


@dataclass(eq=False, slots=True)
class _Sweep(_Item):
    pass


@dataclass(eq=False, slots=True)
class _Handle(_Item):
    chat_id: int
    arrival: Arrival


@dataclass(eq=False, slots=True)
class _Sent(_Item):
    row: OutboxRow
    event: Event | None  # what Telegram's answer means to the run (a poll's id), if anything


class Journal:
    def __init__(
        self,
        db: Database,
        courses: CourseCache,
        clock: Callable[[], datetime],
        *,
        concurrency: int = 2,
    ) -> None:
        """`concurrency` batches may be committing at once, each on a connection of its
        own: while PostgreSQL works on one, the next one gathers."""
        self._db = db
        self._courses = courses
        self._states = StateCache()
        self._clock = clock
        self._concurrency = concurrency
        self._queue: list[_Item] = []
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []

    # ---- what the runtime asks ---------------------------------------------------------

    async def store(
        self, bot: HostedBot, updates: Sequence[IncomingUpdate], *, touch: bool = False
    ) -> list[Stored]:
        """Store updates in the inbox, in order; one outcome per update. `touch`: also set
        the bot's `last_update_at` (for the panel's eyes, so not on every update)."""
        return await self._submit(_Store(bot, updates, touch))

    async def sweep(self, bot: HostedBot) -> ChatsWithWork:
        """The bot's chats with work left (a crash, an outage or another runner's)."""
        return await self._submit(_Sweep(bot))

    async def handle(self, bot: HostedBot, chat_id: int, arrival: Arrival) -> HandleResult | None:
        """Handle a stored update of a chat; None when it is not the chat's next one (handled
        elsewhere already, or an older update of the chat is still unprocessed)."""
        return await self._submit(_Handle(bot, chat_id, arrival))

    async def sent(self, bot: HostedBot, row: OutboxRow, event: Event | None) -> int:
        """Record that Telegram accepted an outbox row and feed `event` to its run; how many
        messages that queued."""
        return await self._submit(_Sent(bot, row, event))

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
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()

    async def _submit(self, item: _Item) -> Any:
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
                if items:
                    connection = await self._commit(connection, items)
        finally:
            if connection is not None:
                await connection.close()

    async def _commit(
        self, connection: BatchConnection | None, items: list[_Item]
    ) -> BatchConnection | None:
        """Commit `items` (falling back to one at a time); the connection to use next."""
        try:
            if connection is None or connection.closed:
                connection = await self._db.connect_batch()
            results = await _Batch(
                connection, items, self._courses, self._states, self._clock()
            ).run()
        except asyncio.CancelledError:
            _fail(items, asyncio.CancelledError())
            raise
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
        for item, result in results.items():
            if not item.future.done():
                item.future.set_result(result)
        return connection

    async def _settle_alone(
        self, connection: BatchConnection | None, item: _Item, error: Exception
    ) -> BatchConnection | None:
        """An item PostgreSQL refuses even on its own."""
        if isinstance(item, _Store) and len(item.updates) > 1:
            outcomes: list[Stored] = []
            for update in item.updates:
                single = _Store(item.bot, [update], item.touch)
                connection = await self._commit(connection, [single])
                outcomes.extend(await single.future)
            item.future.set_result(outcomes)
            return connection
        if isinstance(item, _Store) and content_refused(error):
            log.warning(
                "bot %s: update %s could not be stored; ignored",
                item.bot.bot_id,
                item.updates[0].update_id,
            )
            item.future.set_result([Stored(StoreOutcome.REFUSED)])
            return connection
        if isinstance(item, _Handle):
            log.error(
                "bot %s: update %s failed: %s", item.bot.bot_id, item.arrival.update_id, error
            )
            failed = _Handle(item.bot, item.chat_id, item.arrival)
            connection = await self._commit_failure(connection, failed, error)
            _chain(failed.future, item.future)
            return connection
        if isinstance(item, _Sent) and item.event is not None:
            log.error(
                "bot %s: outbox %s result not applied: %s", item.bot.bot_id, item.row.id, error
            )
            plain = _Sent(item.bot, item.row, None)
            connection = await self._commit(connection, [plain])
            _chain(plain.future, item.future)
            return connection
        item.future.set_exception(error)
        return connection

    async def _commit_failure(
        self, connection: BatchConnection | None, item: _Handle, error: Exception
    ) -> BatchConnection | None:
        """Record the update as processed with its error, so it never wedges its chat."""
        try:
            if connection is None or connection.closed:
                connection = await self._db.connect_batch()
            batch = _Batch(connection, [item], self._courses, self._states, self._clock())
            results = await batch.run(failed=f"{type(error).__name__}: {error}"[:500])
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


def _is_start(handle: _Handle) -> bool:
    inbound = handle.arrival.inbound
    return inbound is not None and isinstance(inbound.action, StartRequest)


def _fail(items: Sequence[_Item], error: BaseException) -> None:
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
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())


class _Batch:
    """One transaction's work: statements in a fixed order, results only after COMMIT."""

    def __init__(
        self,
        connection: BatchConnection,
        items: list[_Item],
        courses: CourseCache,
        states: StateCache,
        now: datetime,
    ) -> None:
        self._conn = connection
        self._items = items
        self._courses = courses
        self._states = states
        self._known: dict[ChatKey, KnownState] = {}  # states held when the runs were locked
        self._new_states: dict[ChatKey, KnownState | None] = {}  # for the cache, after commit
        self._now = now
        self._writes = RunWrites()
        self._messages: list[NewMessage] = []
        self._errors: list[tuple[int, int, str]] = []

    async def run(self, *, failed: str | None = None) -> dict[_Item, Any]:
        """`failed`: settle the (handle) items as failed with this error instead."""
        await self._conn.begin(item.bot.account_id for item in self._items)
        try:
            results = await self._work(failed)
            await self._conn.commit()
        except BaseException:
            try:
                await self._conn.rollback()
            except Exception:
                await self._conn.close()
            raise
        for chat, known in self._new_states.items():
            self._states.put(chat, known)
        return results

    async def _work(self, failed: str | None) -> dict[_Item, Any]:
        results: dict[_Item, Any] = {}
        stores = [i for i in self._items if isinstance(i, _Store)]
        handles = [i for i in self._items if isinstance(i, _Handle)]
        sents = [i for i in self._items if isinstance(i, _Sent)]
        if stores:
            results.update(await self._store(stores))
        sweeps = [i for i in self._items if isinstance(i, _Sweep)]
        if sweeps:
            found = await self._conn.chats_with_work(
                [(i.bot.bot_id, i.bot.account_id) for i in sweeps]
            )
            results.update((sweep, found[sweep.bot.bot_id]) for sweep in sweeps)
        await self._conn.mark_sent([(s.row.id, s.bot.account_id) for s in sents], self._now)
        claimed = await self._claim(handles) if failed is None else handles
        results.update(dict.fromkeys(set(handles).difference(claimed)))
        feeding = {s for s in sents if s.event is not None and s.row.run_id is not None}
        runs = await self._lock_runs(
            [(i.bot, i.chat_id) for i in claimed] + [(s.bot, s.row.chat_id) for s in feeding]
        )
        outcomes: dict[_Handle, tuple[bool, RunPosition | None]] = {}
        if failed is not None:
            for handle in claimed:
                self._errors.append((handle.arrival.inbox_id, handle.bot.account_id, failed))
                outcomes[handle] = (False, None)
        else:
            starts = [h for h in claimed if _is_start(h)]
            begun = await self._admit(starts, runs) if starts else {}
            starting = set(starts)
            runs.update(begun)
            await self._load_courses(runs.values())
            for handle in claimed:
                key = (handle.bot.bot_id, handle.chat_id)
                if handle in starting:
                    outcomes[handle] = self._begin(handle, begun.get(key))
                else:
                    outcomes[handle] = self._handle(handle, runs.get(key))
        for sent in sents:
            run = runs.get((sent.bot.bot_id, sent.row.chat_id))
            results[sent] = self._feed(sent, run) if sent in feeding else 0
        await self._conn.record_errors(self._errors, self._now)
        await self._conn.write_runs(self._writes)
        pending = await self._conn.enqueue(
            self._messages, [(h.bot.account_id, h.bot.bot_id, h.chat_id) for h in claimed]
        )
        for handle, (ok, position) in outcomes.items():
            inbound = handle.arrival.inbound
            results[handle] = HandleResult(
                ok,
                inbound.callback_query_id if inbound is not None else None,
                position,
                pending.get((handle.bot.bot_id, handle.chat_id), []),
            )
        return results

    async def _admit(
        self, starts: list[_Handle], runs: dict[ChatKey, ActiveRun]
    ) -> dict[ChatKey, ActiveRun]:
        """Decide the batch's `/start`s; queue what they say; the runs they begin (not
        stepped yet), by chat."""
        requests = []
        for handle in starts:
            inbound = handle.arrival.inbound
            assert inbound is not None and isinstance(inbound.action, StartRequest)
            current = runs.get((handle.bot.bot_id, handle.chat_id))
            requests.append(Start(handle.bot, inbound, inbound.action, current))
        decided = await admit_starts(self._conn, requests, self._now)
        begun: dict[ChatKey, ActiveRun] = {}
        for handle, admission in zip(starts, decided, strict=True):
            for payload in admission.messages:
                self._messages.append(
                    NewMessage(
                        handle.bot.account_id, handle.bot.bot_id, handle.chat_id, None, payload
                    )
                )
            new = admission.begin
            if new is not None and admission.begun is not None:
                begun[(new.bot_id, new.chat_id)] = ActiveRun(
                    admission.begun,
                    new.account_id,
                    new.bot_id,
                    new.chat_id,
                    new.deployment_id,
                    new.course_version_id,
                    0,
                    {},
                )
        return begun

    def _begin(self, handle: _Handle, run: ActiveRun | None) -> tuple[bool, RunPosition | None]:
        """The first step of a run a `/start` began (None: the start was refused)."""
        if run is None:
            return True, None
        writes, current = self._advance(run, StartEvent(None))
        self._keep(run, writes)
        return True, RunPosition(run.id, current, writes.finish_status is not None)

    async def _lock_runs(self, chats: list[tuple[HostedBot, int]]) -> dict[ChatKey, ActiveRun]:
        queries = []
        for bot, chat_id in chats:
            known = self._states.get((bot.bot_id, chat_id))
            if known is None:
                queries.append(RunQuery(bot.account_id, bot.bot_id, chat_id))
            else:
                self._known[(bot.bot_id, chat_id)] = known
                queries.append(
                    RunQuery(bot.account_id, bot.bot_id, chat_id, known.run_id, known.version)
                )
        return await self._conn.lock_active_runs(queries)

    async def _store(self, stores: list[_Store]) -> dict[_Item, list[Stored]]:
        rows = [
            NewUpdate(s.bot.account_id, s.bot.bot_id, u.update_id, u.chat_id, u.payload)
            for s in stores
            for u in s.updates
        ]
        ids = await self._conn.store_updates(rows, self._now)
        touched = {(s.bot.bot_id, s.bot.account_id) for s in stores if s.touch}
        await self._conn.touch_bots(sorted(touched), self._now)
        return {
            s: [
                Stored(StoreOutcome.STORED, ids[key])
                if (key := (s.bot.bot_id, u.update_id)) in ids
                else Stored(StoreOutcome.DUPLICATE)
                for u in s.updates
            ]
            for s in stores
        }

    async def _claim(self, handles: list[_Handle]) -> list[_Handle]:
        if not handles:
            return []
        keys = [(h.arrival.inbox_id, h.bot.account_id) for h in handles]
        claimed = await self._conn.claim_updates(keys, self._now)
        return [h for h in handles if h.arrival.inbox_id in claimed]

    async def _load_courses(self, runs: Any) -> None:
        missing = {
            (run.course_version_id, run.account_id)
            for run in runs
            if self._courses.cached(run.course_version_id) is None
        }
        for version_id, source in (await self._conn.course_sources(missing)).items():
            self._courses.keep(version_id, source)

    def _handle(self, handle: _Handle, run: ActiveRun | None) -> tuple[bool, RunPosition | None]:
        """React to the update; (ok, where the run now stands)."""
        inbound = handle.arrival.inbound
        try:
            reaction = react(inbound, run is not None)
            if isinstance(reaction, Reply):
                run_id = run.id if run is not None and reaction.run_bound else None
                for payload in reaction.messages:
                    self._messages.append(
                        NewMessage(
                            handle.bot.account_id,
                            handle.bot.bot_id,
                            handle.chat_id,
                            run_id,
                            payload,
                        )
                    )
            if not isinstance(reaction, Advance) or run is None:
                return True, None
            writes, state_current = self._advance(run, reaction.event)
        except Exception as exc:
            log.exception("bot %s: update %s failed", handle.bot.bot_id, handle.arrival.update_id)
            error = f"{type(exc).__name__}: {exc}"[:500]
            self._errors.append((handle.arrival.inbox_id, handle.bot.account_id, error))
            return False, None
        self._keep(run, writes)
        return True, RunPosition(run.id, state_current, writes.finish_status is not None)

    def _feed(self, sent: _Sent, run: ActiveRun | None) -> int:
        """Apply Telegram's answer to the row's run (if it is still the active one)."""
        if run is None or run.id != sent.row.run_id or sent.event is None:
            return 0
        try:
            writes, _ = self._advance(run, sent.event)
        except Exception:
            log.exception("bot %s: outbox %s result not applied", sent.bot.bot_id, sent.row.id)
            return 0
        self._keep(run, writes)
        return len(writes.messages)

    def _advance(self, run: ActiveRun, event: Event) -> tuple[StepWrites, str | None]:
        course = self._courses.cached(run.course_version_id)
        if course is None:
            raise LookupError(f"course version {run.course_version_id} does not load")
        chat = (run.bot_id, run.chat_id)
        # No state from the database: it said the one we hold is current.
        before = self._known[chat].state if run.state is None else load_state(run.state)
        state, effects = step(course, before, event, self._now)
        writes = plan_step(state, effects)
        finished = writes.finish_status is not None
        # Saving the state bumps its version by one (migration 0006's trigger).
        self._new_states[chat] = (
            None if finished else KnownState(run.id, run.state_version + 1, state)
        )
        return writes, state.current

    def _keep(self, run: ActiveRun, writes: StepWrites) -> None:
        """Gather one step's rows into the batch's statements."""
        account_id = run.account_id
        self._writes.states.append(
            (run.id, account_id, orjson.dumps(writes.state).decode(), writes.finish_status)
        )
        if writes.cancel_waits or writes.finish_status is not None:
            self._writes.cancel_waits.append((run.id, account_id))
        for timer in writes.schedules:
            self._writes.waits.append(
                NewWait(account_id, run.id, timer.wait_id, timer.due_at, timer.goto)
            )
        for line in writes.lines:
            self._writes.lines.append((account_id, run.id, line))
        for payload in writes.messages:
            self._messages.append(NewMessage(account_id, run.bot_id, run.chat_id, run.id, payload))
