"""One group-commit transaction: the journal's items in a fixed order of set-based
statements (storage/batch.py), results handed back only after COMMIT.

Within the transaction: updates are stored (those marked to be handled at once join the
batch's updates to handle), sent messages recorded, the inbox rows to handle
claimed (each only while it is its chat's oldest unprocessed one), their runs locked in id
order, `/start`s and paid grants decided (runtime/admission.py), every run stepped
by the engine in memory or stopped or moved (other producers' events:
storage/inbox_events.py), and then each table written once for the whole batch. Our code
failing on one update is recorded against that update alone; anything PostgreSQL refuses
fails the batch (the journal then retries its items one by one).

A run's course must be built (from the version's stored elements) before the run is
stepped; a small one is built on the spot, a large one takes a tenth of a second and more
(in a worker process: runtime/course_cache.py). A batch that finds courses being
built rolls back and raises `CoursesLoading`: the journal runs the other items again at
once and the waiting ones when their course is ready, so no chat waits for another
account's course.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

import orjson

from engine import step
from engine.effects import SendText
from engine.events import Event, TimerFired
from engine.events import Start as StartEvent
from engine.personal_texts import PersonalFacts, Student, facts_of
from engine.state import RunState
from runtime import commands, effect_codec, resume_button
from runtime.admission import Admission, Grant, Restart, Start, admit_grants, admit_starts
from runtime.course_cache import CourseCache
from runtime.hosted_bot import HostedBot
from runtime.inbound import Command, Confirmation, StartRequest
from runtime.journal_items import (
    Arrival,
    HandleItem,
    HandleResult,
    IncomingUpdate,
    Item,
    SentItem,
    SentOutcome,
    Stored,
    StoreItem,
    StoreOutcome,
    SweepItem,
    is_grant,
    is_start,
)
from runtime.outreach_texts import broadcast_payload, member_message, reminder_message
from runtime.run_position import RunPosition
from runtime.state_cache import KnownState, StateCache
from runtime.step_plan import Advance, Answer, Reply, StepWrites, plan_step, react
from runtime.student_texts import Notice, notice_text
from storage import admission_batch, broadcasts, link_visits, reminders, teacher_notices
from storage.batch import (
    ActiveRun,
    BatchConnection,
    ChatKey,
    KnownStudent,
    NewMessage,
    NewUpdate,
    NewWait,
    RunQuery,
    RunWrites,
)
from storage.command_batch import CommandFacts, CommandQuestion, command_facts
from storage.inbox_events import (
    AccessGranted,
    AccessRefunded,
    Blocked,
    BroadcastDue,
    BroadcastTest,
    InboxEvent,
    Notify,
    Remind,
    Repin,
    StopRun,
    TimerDue,
)
from storage.models import RunStatus
from storage.reminders import DueNudge
from storage.webhooks import HookEvent, hook_event, record_events

log = logging.getLogger(__name__)


class Fence(Protocol):
    """With several runners, the leases of this one (runtime/leases.py `LeaseKeeper`)."""

    @property
    def me(self) -> str:
        """The runner's id, as its lease rows name their holder."""
        ...

    async def fence(self, connection: BatchConnection, bot_ids: Collection[int]) -> set[int]:
        """Of `bot_ids`, those whose lease this runner holds, locked until the batch ends."""
        ...


class CoursesLoading(Exception):
    """The batch was rolled back: `waits` maps each item whose run's course is being built
    to that build; the batch's other items can go again at once."""

    def __init__(
        self, waits: dict[Item, asyncio.Task[None]], unhandle: set[StoreItem] | None = None
    ) -> None:
        super().__init__(f"{len(waits)} item(s) wait for a course to be built")
        self.waits = waits
        # stores that were to handle an update of such a run too: they go again, store only
        self.unhandle = unhandle or set()


class Batch:
    """One transaction's work: statements in a fixed order, results only after COMMIT."""

    def __init__(
        self,
        connection: BatchConnection,
        items: list[Item],
        courses: CourseCache,
        states: StateCache,
        now: datetime,
        *,
        fence: Fence | None = None,
    ) -> None:
        self._conn = connection
        self._fence = fence
        self._items = items
        self._courses = courses
        self._states = states
        self._known: dict[ChatKey, KnownState] = {}  # states held when the runs were locked
        self._new_states: dict[ChatKey, KnownState | None] = {}  # for the cache, after commit
        self._now = now
        self._writes = RunWrites()
        self._messages: list[NewMessage] = []
        self._errors: list[tuple[int, int, str]] = []
        # (run id, account id) by the status they end with
        self._stops: dict[RunStatus, list[tuple[int, int]]] = {}
        self._repins: list[tuple[int, int, int]] = []  # (run id, account id, version id)
        self._command_facts: dict[HandleItem, CommandFacts] = {}
        self._hooks: list[HookEvent] = []  # for the accounts' webhooks, in this transaction
        self._nudges: dict[int, tuple[DueNudge, ActiveRun]] = {}  # by run id
        self._refused: list[tuple[int, int, int]] = []  # (account, bot, chat): Telegram's 403
        self._broadcasts: dict[int, broadcasts.StoredMessage] = {}  # of the batch's events
        self._with_button: set[int] = set()  # those of them with "continue the course"
        # by (account, chat): what the database knows of students a broadcast goes to
        self._broadcast_names: dict[tuple[int, int], KnownStudent] = {}
        # (account, bot, chat, recipient id, payload JSON): broadcast messages to queue
        self._broadcast_rows: list[tuple[int, int, int, int, str]] = []
        self._dropped: list[tuple[int, int]] = []  # (recipient id, account id): cancelled
        # updates handled in the transaction that stores them: their store and its outcomes
        self._stored_handles: dict[HandleItem, tuple[StoreItem, int]] = {}
        self._leased: set[int] | None = None  # see `_held`

    async def run(self, *, failed: str | None = None) -> dict[Item, Any]:
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

    async def run_alone(self) -> dict[Item, Any] | None:
        """An idle chat's polled update, stored and stepped by one statement that commits
        alone, where the batch is that update only and this process holds its run's state:
        the step is computed first, from that state, and written only if the state is
        still the run's (storage/batch.py `_LONE_STEP`). None when it cannot go this way
        (the batch is more, the update asks for more than a step, the guard refused), with
        nothing written: the caller runs the batch as usual, in a new `Batch`."""
        lone = self._lone_update()
        if lone is None:
            return None
        store, update, known = lone
        assert update.chat_id is not None and update.inbound is not None
        chat = (store.bot.bot_id, update.chat_id)
        self._known[chat] = known
        handle = HandleItem(store.bot, update.chat_id, Arrival(0, update.update_id, update.inbound))
        ok, position = self._handle(handle, known.run)
        if not ok or self._hooks:
            return None  # the batch's way records the failure, or writes the events
        row = NewUpdate(
            store.bot.account_id, store.bot.bot_id, update.update_id, update.chat_id, update.payload
        )
        holder = self._fence.me if self._fence is not None else None
        written = await self._conn.write_lone_step(
            row, known.run, self._writes, self._messages, self._now, holder
        )
        if written is None:
            return None
        inbox_id, pending = written
        for key, state in self._new_states.items():
            self._states.put(key, state)
        handled = HandleResult(True, update.inbound.callback_query_id, position, pending)
        return {store: [Stored(StoreOutcome.STORED, inbox_id, handled)]}

    def _lone_update(self) -> tuple[StoreItem, IncomingUpdate, KnownState] | None:
        """The batch's one update, if it may go `run_alone`'s way: to be handled now, in a
        chat whose run state this process holds, of an account without webhooks, with a
        built course, and asking for a step or a reply only (a `/start` or a command reads
        more first)."""
        if len(self._items) != 1:
            return None
        (store,) = self._items
        if not isinstance(store, StoreItem) or not store.handle or store.touch:
            return None
        if len(store.updates) != 1:
            return None
        (update,) = store.updates
        if not update.handle or update.chat_id is None or update.inbound is None:
            return None
        known = self._states.get((store.bot.bot_id, update.chat_id))
        if (
            known is None
            or known.run.hooked
            or not self._courses.known(known.run.course_version_id)
        ):
            return None
        if not isinstance(react(update.inbound, True), Advance | Reply):
            return None
        return store, update, known

    async def _work(self, failed: str | None) -> dict[Item, Any]:
        results: dict[Item, Any] = {}
        stores = [i for i in self._items if isinstance(i, StoreItem)]
        handles = [i for i in self._items if isinstance(i, HandleItem)]
        sents = [i for i in self._items if isinstance(i, SentItem)]
        if stores:
            results.update(await self._store(stores))
        sweeps = [i for i in self._items if isinstance(i, SweepItem)]
        if sweeps:
            found = await self._conn.chats_with_work(
                [(i.bot.bot_id, i.bot.account_id) for i in sweeps]
            )
            results.update((sweep, found[sweep.bot.bot_id]) for sweep in sweeps)
        current = await self._conn.mark_sent(
            [(s.row.id, s.bot.account_id) for s in sents], self._now
        )
        await self._conn.remember_files(
            [(s.bot.account_id, s.bot.bot_id, url, fid) for s in sents for url, fid in s.files]
        )
        claimed = [
            *(await self._claim(handles) if failed is None else handles),
            *self._stored_handles,  # claimed as they were stored
        ]
        results.update(dict.fromkeys(set(handles).difference(claimed)))
        feeding = {
            s
            for s in sents
            if s.event is not None and s.row.run_id is not None and s.row.id in current
        }
        runs = await self._lock_runs(
            [(i.bot, i.chat_id) for i in claimed] + [(s.bot, s.row.chat_id) for s in feeding]
        )
        outcomes: dict[HandleItem, tuple[bool, RunPosition | None]] = {}
        if failed is not None:
            for handle in claimed:
                self._errors.append((handle.arrival.inbox_id, handle.bot.account_id, failed))
                outcomes[handle] = (False, None)
        else:
            starts = [h for h in claimed if is_start(h)]
            grants = [h for h in claimed if is_grant(h)]
            restarts = await self._gather_commands(claimed, runs)
            if starts or grants or restarts:
                begun = await self._admit(starts, grants, runs, restarts)
            else:
                begun = {}
            beginning = {*starts, *grants, *restarts}
            runs.update(begun)
            due = [
                (h.arrival.event.broadcast_id, h.bot.account_id)
                for h in claimed
                if isinstance(h.arrival.event, BroadcastDue)
            ]
            self._broadcasts = await broadcasts.messages(self._conn, due)
            self._with_button = {
                broadcast_id
                for broadcast_id, stored in self._broadcasts.items()
                if resume_button.marked(orjson.loads(stored.message))
            }
            self._broadcast_names = await self._conn.student_names(
                self._broadcast_students(claimed, runs)
            )
            stepping = [h for h in claimed if not isinstance(h.arrival.event, _COURSELESS)]
            waits = await self._build_missing(runs, [*stepping, *feeding])
            if waits:
                unhandle = {self._stored_handles[w][0] for w in waits if w in self._stored_handles}
                raise CoursesLoading(
                    {w: t for w, t in waits.items() if w not in self._stored_handles}, unhandle
                )
            for handle in claimed:
                key = (handle.bot.bot_id, handle.chat_id)
                event = handle.arrival.event
                if handle in beginning:
                    outcomes[handle] = self._begin(handle, begun.get(key))
                elif event is not None:
                    outcomes[handle] = self._apply(handle, event, runs.get(key))
                else:
                    outcomes[handle] = self._handle(handle, runs.get(key))
        for sent in sents:
            run = runs.get((sent.bot.bot_id, sent.row.chat_id))
            queued = self._feed(sent, run) if sent in feeding else 0
            results[sent] = SentOutcome(sent.row.id in current, queued)
        await self._send_nudges()
        await teacher_notices.mark_refused(self._conn, self._refused, self._now)
        await link_visits.mark_blocked(self._conn, self._refused, self._now)
        for status, stopped in self._stops.items():
            await admission_batch.stop_runs(self._conn, stopped, status)
        await self._conn.repin_runs(self._repins)
        await self._conn.record_errors(self._errors, self._now)
        await record_events(self._conn.execute, self._hooks)
        await broadcasts.drop_recipients(self._conn, self._dropped, self._now)
        await broadcasts.queue_messages(self._conn, self._broadcast_rows)
        pending = await self._conn.write_steps(
            self._writes,
            self._messages,
            [(h.bot.account_id, h.bot.bot_id, h.chat_id) for h in claimed],
        )
        for handle, (ok, position) in outcomes.items():
            inbound = handle.arrival.inbound
            results[handle] = HandleResult(
                ok,
                inbound.callback_query_id if inbound is not None else None,
                position,
                pending.get((handle.bot.bot_id, handle.chat_id), []),
            )
        for handle, (store, n) in self._stored_handles.items():
            outcomes_of_store = results[store]
            outcomes_of_store[n] = outcomes_of_store[n]._replace(handled=results.pop(handle))
        return results

    async def _gather_commands(
        self, claimed: list[HandleItem], runs: dict[ChatKey, ActiveRun]
    ) -> list[HandleItem]:
        """Read what the batch's student commands need (runtime/commands.py); the confirmed
        restarts of the chats' active runs, which admission begins again."""
        asked: list[tuple[HandleItem, CommandQuestion]] = []
        restarts = []
        for handle in claimed:
            inbound = handle.arrival.inbound
            if inbound is None or not isinstance(inbound.action, Command | Confirmation):
                continue
            run = runs.get((handle.bot.bot_id, handle.chat_id))
            deployment = run.deployment_id if run else handle.bot.default_deployment_id
            asked.append(
                (handle, CommandQuestion(handle.bot.account_id, deployment, run and run.id))
            )
            if commands.confirms_restart(inbound.action, run and run.id):
                restarts.append(handle)
        if asked:
            found = await command_facts(self._conn, [question for _, question in asked])
            self._command_facts = {h: f for (h, _), f in zip(asked, found, strict=True)}
        return restarts

    def _broadcast_students(
        self, claimed: list[HandleItem], runs: dict[ChatKey, ActiveRun]
    ) -> list[tuple[int, int]]:
        """(account, Telegram user) of the students the batch's broadcast messages need to
        know more of: the names of those without a run here (finished ones) where a message
        names its students ({first_name}), and the language of those whose message carries
        the "continue the course" button (a private chat's id is its student's)."""
        students = []
        for handle in claimed:
            event = handle.arrival.event
            if isinstance(event, BroadcastDue):
                stored = self._broadcasts.get(event.broadcast_id)
                named = stored is not None and "{" in stored.message
                if (named and (handle.bot.bot_id, handle.chat_id) not in runs) or (
                    event.broadcast_id in self._with_button
                ):
                    students.append((handle.bot.account_id, handle.chat_id))
            elif isinstance(event, BroadcastTest) and resume_button.marked(event.message):
                students.append((handle.bot.account_id, handle.chat_id))
        return students

    async def _admit(
        self,
        starts: list[HandleItem],
        grants: list[HandleItem],
        runs: dict[ChatKey, ActiveRun],
        restarts: list[HandleItem],
    ) -> dict[ChatKey, ActiveRun]:
        """Decide the batch's `/start`s, paid grants and restarts; queue what they say; the
        runs they begin (not stepped yet), by chat."""
        requests = []
        for handle in starts:
            inbound = handle.arrival.inbound
            assert inbound is not None and isinstance(inbound.action, StartRequest)
            current = runs.get((handle.bot.bot_id, handle.chat_id))
            requests.append(Start(handle.bot, inbound, inbound.action, current))
        for handle in restarts:
            inbound, run = handle.arrival.inbound, runs[(handle.bot.bot_id, handle.chat_id)]
            assert inbound is not None
            again = Restart(run.deployment_id, self._command_facts[handle].token)
            requests.append(Start(handle.bot, inbound, again, run))
        decided = await admit_starts(self._conn, requests, self._now) if requests else []
        paid = []
        for handle in grants:
            access = handle.arrival.event
            assert isinstance(access, AccessGranted)
            current = runs.get((handle.bot.bot_id, handle.chat_id))
            paid.append(Grant(handle.bot, handle.chat_id, access, current))
        granted = await admit_grants(self._conn, paid) if paid else []
        # A grant has no update to name its student: their names come from the database.
        names = await self._conn.student_names(
            (a.begin.account_id, a.begin.user_id) for a in granted if a.begin is not None
        )
        return self._admitted([*starts, *restarts, *grants], decided + granted, names)

    def _admitted(
        self,
        handles: list[HandleItem],
        decided: list[Admission],
        names: dict[tuple[int, int], KnownStudent],
    ) -> dict[ChatKey, ActiveRun]:
        """Queue what the admissions say; the runs they begin, by chat (with the student's
        names: from the update, else `names`)."""
        begun: dict[ChatKey, ActiveRun] = {}
        for handle, admission in zip(handles, decided, strict=True):
            if admission.stop is not None:
                self._hook(admission.stop, "run.stopped", status=RunStatus.STOPPED.value)
            for payload in admission.messages:
                self._messages.append(
                    NewMessage(
                        handle.bot.account_id, handle.bot.bot_id, handle.chat_id, None, payload
                    )
                )
            new = admission.begin
            if new is not None and admission.begun is not None:
                inbound = handle.arrival.inbound
                known = names.get((new.account_id, new.user_id), _UNKNOWN)
                first_name, username = (
                    (inbound.student.first_name, inbound.student.username)
                    if inbound is not None
                    else (known.first_name, known.username)
                )
                run = ActiveRun(
                    admission.begun.id,
                    new.account_id,
                    new.bot_id,
                    new.chat_id,
                    new.deployment_id,
                    new.course_version_id,
                    0,
                    {},
                    first_name,
                    username,
                    new.user_id,
                    admission.begun.hooked,
                )
                begun[(new.bot_id, new.chat_id)] = run
                self._hook(run, "run.started")
        return begun

    def _begin(self, handle: HandleItem, run: ActiveRun | None) -> tuple[bool, RunPosition | None]:
        """The first step of a run a `/start` or a grant began (None: none began)."""
        if run is None:
            return True, None
        position, _ = self._step(run, StartEvent(None))
        return True, position

    async def _held(self, bot_ids: set[int]) -> set[int]:
        """Of `bot_ids`, the bots whose lease this runner holds (all of them without a
        fence). The first call fences every bot the batch may apply an update of, in one
        statement: a transaction that locked lease rows twice could wait for a takeover or
        a release holding one row while that waits for the row it holds (storage/leases.py)."""
        if self._fence is None or not bot_ids:
            return bot_ids
        if self._leased is None:
            fenced = {
                item.bot.bot_id
                for item in self._items
                if isinstance(item, HandleItem) or (isinstance(item, StoreItem) and item.handle)
            }
            self._leased = await self._fence.fence(self._conn, fenced)
        return bot_ids & self._leased

    async def _lock_runs(self, chats: list[tuple[HostedBot, int]]) -> dict[ChatKey, ActiveRun]:
        queries = []
        for bot, chat_id in chats:
            known = self._states.get((bot.bot_id, chat_id))
            if known is None:
                queries.append(RunQuery(bot.account_id, bot.bot_id, chat_id))
            else:
                self._known[(bot.bot_id, chat_id)] = known
                queries.append(
                    RunQuery(
                        bot.account_id, bot.bot_id, chat_id, known.run.id, known.run.state_version
                    )
                )
        return await self._conn.lock_active_runs(queries)

    async def _store(self, stores: list[StoreItem]) -> dict[Item, list[Stored]]:
        # An update handled as it is stored obeys the lease fence like any other: a runner
        # that lost the bot only stores it, and the new holder applies it.
        handling = await self._held({s.bot.bot_id for s in stores if s.handle})
        rows = [
            NewUpdate(
                s.bot.account_id,
                s.bot.bot_id,
                u.update_id,
                u.chat_id,
                u.payload,
                s.handle and u.handle and s.bot.bot_id in handling,
            )
            for s in stores
            for u in s.updates
        ]
        ids = await self._conn.store_updates(rows, self._now)
        touched = {(s.bot.bot_id, s.bot.account_id) for s in stores if s.touch}
        await self._conn.touch_bots(sorted(touched), self._now)
        results: dict[Item, list[Stored]] = {}
        for s in stores:
            outcomes = []
            for n, u in enumerate(s.updates):
                found = ids.get((s.bot.bot_id, u.update_id))
                if found is None:
                    outcomes.append(Stored(StoreOutcome.DUPLICATE))
                    continue
                inbox_id, claimed = found
                outcomes.append(Stored(StoreOutcome.STORED, inbox_id))
                if claimed and u.chat_id is not None:
                    arrival = Arrival(inbox_id, u.update_id, u.inbound)
                    self._stored_handles[HandleItem(s.bot, u.chat_id, arrival)] = (s, n)
            results[s] = outcomes
        return results

    async def _claim(self, handles: list[HandleItem]) -> list[HandleItem]:
        if not handles:
            return []
        # another runner's bot now: it applies the update
        held = await self._held({h.bot.bot_id for h in handles})
        handles = [h for h in handles if h.bot.bot_id in held]
        keys = [(h.arrival.inbox_id, h.bot.account_id) for h in handles]
        claimed = await self._conn.claim_updates(keys, self._now)
        return [h for h in handles if h.arrival.inbox_id in claimed]

    async def _build_missing(
        self, runs: dict[ChatKey, ActiveRun], items: list[HandleItem | SentItem]
    ) -> dict[Item, asyncio.Task[None]]:
        """Build the runs' courses this process does not know yet; the items that need one
        still being built (in a worker), with the build they wait for."""
        missing = {
            run.course_version_id: run.account_id
            for item in items
            if (run := runs.get(_chat_of(item))) is not None
            and not self._courses.known(run.course_version_id)
        }
        if not missing:
            return {}
        unread = {(v, a) for v, a in missing.items() if self._courses.loading(v) is None}
        elements = await self._conn.course_elements(unread)
        for version_id, account_id in unread:
            self._courses.load(version_id, account_id, elements.get(version_id))
        waits: dict[Item, asyncio.Task[None]] = {}
        for item in items:
            run = runs.get(_chat_of(item))
            task = self._courses.loading(run.course_version_id) if run is not None else None
            if task is not None:
                waits[item] = task
        return waits

    def _handle(self, handle: HandleItem, run: ActiveRun | None) -> tuple[bool, RunPosition | None]:
        """React to the update; (ok, where the run now stands)."""
        inbound = handle.arrival.inbound
        if inbound is None:  # it means nothing to a course: only marked processed
            return True, None
        try:
            reaction = react(inbound, run is not None)
            if isinstance(reaction, Answer):
                return True, self._answer(handle, reaction, run)
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
            position, _ = self._step(run, reaction.event)
        except Exception as exc:
            log.exception("bot %s: update %s failed", handle.bot.bot_id, handle.arrival.update_id)
            error = f"{type(exc).__name__}: {exc}"[:500]
            self._errors.append((handle.arrival.inbox_id, handle.bot.account_id, error))
            return False, None
        return True, position

    def _answer(
        self, handle: HandleItem, answer: Answer, run: ActiveRun | None
    ) -> RunPosition | None:
        """Answer a student command (runtime/commands.py); where the run now stands if the
        command ended it."""
        inbound = handle.arrival.inbound
        assert inbound is not None
        view = None
        if run is not None:
            view = commands.RunView(
                run.id, self._courses.cached(run.course_version_id), self._state_of(run)
            )
        decision = commands.decide(
            answer.action,
            view,
            self._command_facts.get(handle),
            inbound.student.language_code,
            self._now,
        )
        for message in decision.messages:
            payload = effect_codec.encode(message)
            bot = handle.bot
            self._messages.append(
                NewMessage(bot.account_id, bot.bot_id, handle.chat_id, None, payload)
            )
        return self._stop(run) if decision.stop and run is not None else None

    def _state_of(self, run: ActiveRun) -> RunState:
        """The run's state as locked: no state from the database means the one we hold is
        current."""
        chat = (run.bot_id, run.chat_id)
        return self._known[chat].state if run.state is None else _load_state(run.state)

    def _apply(
        self, handle: HandleItem, event: InboxEvent, run: ActiveRun | None
    ) -> tuple[bool, RunPosition | None]:
        """Apply another producer's event to the chat's active run (an event for a run that
        ended meanwhile changes nothing); (ok, where the run now stands)."""
        try:
            match event:
                case TimerDue(run_id=run_id, wait_id=wait_id) if run and run.id == run_id:
                    position, _ = self._step(run, TimerFired(wait_id))
                    return True, position
                case StopRun(run_id=run_id) if run and run.id == run_id:
                    return True, self._stop(run)
                case AccessRefunded(deployment_id=deployment) if (
                    run and run.deployment_id == deployment
                ):
                    text = notice_text(Notice.ACCESS_REFUNDED, None)
                    message = effect_codec.encode(SendText(text, None))
                    self._messages.append(
                        NewMessage(run.account_id, run.bot_id, run.chat_id, None, message)
                    )
                    return True, self._stop(run)
                case Repin(run_id=run_id, course_version_id=version) if run and run.id == run_id:
                    self._repins.append((run.id, run.account_id, version))
                case Remind(run_id=run_id, rule_id=rule_id, since=since) if (
                    run and run.id == run_id
                ):
                    nudge = DueNudge(run.id, run.account_id, rule_id, since)
                    self._nudges[run.id] = (nudge, run)
                case Notify(text=words):
                    self._messages.append(
                        NewMessage(
                            handle.bot.account_id,
                            handle.bot.bot_id,
                            handle.chat_id,
                            None,
                            member_message(words),
                        )
                    )
                case Blocked():
                    chat = (handle.bot.account_id, handle.bot.bot_id, handle.chat_id)
                    self._refused.append(chat)
                    if run:
                        return True, self._stop(run, RunStatus.BLOCKED)
                case BroadcastDue():
                    self._queue_broadcast(handle, event, run)
                case BroadcastTest(message=message):
                    known = self._broadcast_names.get(
                        (handle.bot.account_id, handle.chat_id), _UNKNOWN
                    )
                    message = resume_button.put_in(message, known.language_code)
                    self._messages.append(
                        NewMessage(
                            handle.bot.account_id, handle.bot.bot_id, handle.chat_id, None, message
                        )
                    )
        except Exception as exc:
            log.exception("bot %s: event %s failed", handle.bot.bot_id, handle.arrival.inbox_id)
            error = f"{type(exc).__name__}: {exc}"[:500]
            self._errors.append((handle.arrival.inbox_id, handle.bot.account_id, error))
            return False, None
        return True, None

    async def _send_nudges(self) -> None:
        """Count the batch's due reminders and queue those whose runs did not move since
        the sweep saw them (storage/reminders.py)."""
        if not self._nudges:
            return
        due = await reminders.record_sent(
            self._conn, [nudge for nudge, _ in self._nudges.values()], self._now
        )
        for run_id, rule_text in due.items():
            run = self._nudges[run_id][1]
            facts = self._facts(run.account_id, run.chat_id, run)
            self._messages.append(
                NewMessage(
                    run.account_id,
                    run.bot_id,
                    run.chat_id,
                    run.id,
                    reminder_message(rule_text, facts),
                )
            )

    def _queue_broadcast(
        self, handle: HandleItem, event: BroadcastDue, run: ActiveRun | None
    ) -> None:
        """The one place a broadcast's message becomes a student's: queued for the chat,
        with the student's names and answers put in and its "continue the course" button in
        their language, unless the broadcast was cancelled (or deleted) since its recipient
        was posted."""
        account_id = handle.bot.account_id
        stored = self._broadcasts.get(event.broadcast_id)
        if stored is None or stored.cancelled:
            self._dropped.append((event.recipient_id, account_id))
            return
        message = stored.message
        if "{" in message or event.broadcast_id in self._with_button:
            known = self._broadcast_names.get((account_id, handle.chat_id), _UNKNOWN)
            message = broadcast_payload(
                message, self._facts(account_id, handle.chat_id, run), known.language_code
            )
        self._broadcast_rows.append(
            (account_id, handle.bot.bot_id, handle.chat_id, event.recipient_id, message)
        )

    def _facts(self, account_id: int, chat_id: int, run: ActiveRun | None) -> PersonalFacts:
        """What a broadcast or a reminder may say about the student: the run's names and
        answers, else the names the database knows (a private chat's id is its student's)."""
        if run is not None:
            student = Student(run.first_name, run.username)
            return facts_of(student, self._state_of(run).answers)
        known = self._broadcast_names.get((account_id, chat_id), _UNKNOWN)
        return facts_of(Student(known.first_name, known.username), {})

    def _stop(self, run: ActiveRun, status: RunStatus = RunStatus.STOPPED) -> RunPosition:
        """End the run (as `stopped` unless told): its timers cancelled, its unsent messages
        dropped."""
        self._stops.setdefault(status, []).append((run.id, run.account_id))
        self._hook(run, "run.stopped", status=status.value)
        self._new_states[(run.bot_id, run.chat_id)] = None
        return RunPosition(run.id, None, True)

    def _feed(self, sent: SentItem, run: ActiveRun | None) -> int:
        """Apply Telegram's answer to the row's run (if it is still the active one)."""
        if run is None or run.id != sent.row.run_id or sent.event is None:
            return 0
        try:
            _, queued = self._step(run, sent.event)
        except Exception:
            log.exception("bot %s: outbox %s result not applied", sent.bot.bot_id, sent.row.id)
            return 0
        return queued

    def _step(self, run: ActiveRun, event: Event) -> tuple[RunPosition, int]:
        """Step the run and gather the step's rows into the batch's statements; where the
        run now stands, and how many messages the step queued."""
        course = self._courses.cached(run.course_version_id)
        if course is None:
            raise LookupError(f"course version {run.course_version_id} does not load")
        chat = (run.bot_id, run.chat_id)
        before = self._state_of(run)
        student = Student(run.first_name, run.username)
        state, effects = step(course, before, event, self._now, student)
        writes = plan_step(state, effects)
        self._keep(run, writes)
        finished = writes.finish_status is not None
        # Only once the rows are gathered: the cache must never hold a state the batch does
        # not write. Saving the state bumps its version by one (migration 0006's trigger).
        stepped = run._replace(state_version=run.state_version + 1, state=None)
        self._new_states[chat] = None if finished else KnownState(stepped, state)
        return RunPosition(run.id, state.current, finished), len(writes.messages)

    def _keep(self, run: ActiveRun, writes: StepWrites) -> None:
        account_id = run.account_id
        self._writes.states.append(
            (
                run.id,
                account_id,
                orjson.dumps(writes.state).decode(),
                writes.element,
                writes.finish_status,
                writes.finish_note,
            )
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
        for event_type, data in writes.hooks:
            self._hook(run, event_type, **data)
        if writes.finish_status == RunStatus.COMPLETED.value:
            self._hook(run, "run.completed", status=writes.finish_status)
        elif writes.finish_status is not None:
            self._hook(run, "run.stopped", status=writes.finish_status)

    def _hook(self, run: ActiveRun, event_type: str, **data: Any) -> None:
        """An event about `run` for the account's webhooks, written with the batch (an
        account without endpoints costs no statement)."""
        if not run.hooked:
            return
        facts = {
            "run_id": run.id,
            "deployment_id": run.deployment_id,
            "bot_id": run.bot_id,
            "chat_id": run.chat_id,
            "telegram_user_id": run.telegram_user_id,
        }
        self._hooks.append(hook_event(run.account_id, event_type, self._now, facts | data))


# A student the database knows nothing of.
_UNKNOWN = KnownStudent(None, None, None)

# Events that stop or move a run without stepping it: they need no parsed course.
_COURSELESS = (
    StopRun,
    AccessRefunded,
    Repin,
    Blocked,
    Remind,
    Notify,
    BroadcastDue,
    BroadcastTest,
)


def _load_state(stored: dict[str, Any]) -> RunState:
    """A run row's `state` column as the engine's RunState (`{}`: not started yet)."""
    return RunState.from_dict(stored) if stored else RunState.new()


def _chat_of(item: HandleItem | SentItem) -> ChatKey:
    if isinstance(item, HandleItem):
        return (item.bot.bot_id, item.chat_id)
    return (item.bot.bot_id, item.row.chat_id)
