"""Set-based statements for the runtime's group commit (runtime/journal.py).

One transaction carries the work of many chats, of many accounts: the updates to store, the
updates to handle, the messages Telegram accepted. Every statement here takes parallel
arrays (`unnest`), so a transaction runs the same handful of statements whether it carries
one chat or two hundred; a transaction per chat cost more CPU than everything else an update
needs (docs/benchmarks.md).

These run on a plain asyncpg connection rather than through SQLAlchemy: at a few statements
per transaction, SQLAlchemy's own work per statement was the larger part of the cost.
Isolation stays as everywhere else: the transaction names its accounts to PostgreSQL
(`app.account_ids`, migration 0006), so Row-Level Security shows those accounts' rows and no
others, and every statement still matches each row's `account_id` explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson

from storage.models import ConversationRole
from storage.repositories.conversation import Line

# ---- statements ----------------------------------------------------------------------------

# An update to handle in the same transaction is claimed as it is inserted, on the same
# condition as _CLAIM_UPDATES (no older update of its chat unprocessed), saving that
# statement's round trip before an idle chat's reply.
_STORE_UPDATES = """
INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, payload, processed_at)
SELECT u.account_id, u.bot_id, u.update_id, u.chat_id, u.payload::jsonb,
       CASE WHEN u.chat_id IS NULL THEN $6::timestamptz
            WHEN u.claim AND NOT EXISTS (
                SELECT 1 FROM processed_update older
                WHERE older.bot_id = u.bot_id AND older.chat_id = u.chat_id
                  AND older.processed_at IS NULL AND older.update_id < u.update_id)
            THEN $6::timestamptz END
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $7::bool[])
     AS u(account_id, bot_id, update_id, chat_id, payload, claim)
ON CONFLICT (bot_id, update_id) DO NOTHING
RETURNING id, bot_id, update_id, chat_id IS NOT NULL AND processed_at IS NOT NULL AS claimed
"""

_TOUCH_BOTS = """
UPDATE bot b SET last_update_at = $3
FROM unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
WHERE b.id = s.id AND b.account_id = s.account_id
"""

# What a crash, an outage or another runner may have left: the sweep's question, per bot.
_CHATS_WITH_WORK = """
SELECT DISTINCT p.bot_id, p.chat_id, true AS inbox
FROM processed_update p
JOIN unnest($1::bigint[], $2::bigint[]) AS s(bot_id, account_id)
  ON p.bot_id = s.bot_id AND p.account_id = s.account_id
WHERE p.processed_at IS NULL AND p.chat_id IS NOT NULL
UNION ALL
SELECT DISTINCT o.bot_id, o.chat_id, false
FROM outbox o
JOIN unnest($1::bigint[], $2::bigint[]) AS s(bot_id, account_id)
  ON o.bot_id = s.bot_id AND o.account_id = s.account_id
WHERE o.status = 'pending'
"""

# Claims an update for handling: still unprocessed (no other runner took it), and no older
# update of its chat waits (Telegram's order is the order a chat's updates are handled in).
_CLAIM_UPDATES = """
UPDATE processed_update p SET processed_at = $3
FROM unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
WHERE p.id = s.id AND p.account_id = s.account_id AND p.processed_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM processed_update older
      WHERE older.bot_id = p.bot_id AND older.chat_id = p.chat_id
        AND older.processed_at IS NULL AND older.update_id < p.update_id)
RETURNING p.id
"""

_RECORD_ERRORS = """
UPDATE processed_update p SET error = s.error, processed_at = COALESCE(p.processed_at, $4)
FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS s(id, account_id, error)
WHERE p.id = s.id AND p.account_id = s.account_id
"""

# A row its run's stop dropped meanwhile stays `cancelled` (with the time it went out anyway);
# `sent` false tells its delivery that the rows it read along with it may be dropped too.
_MARK_SENT = """
UPDATE outbox o SET status = CASE WHEN o.status = 'pending' THEN 'sent' ELSE o.status END,
       sent_at = $3, attempts = o.attempts + 1
FROM unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
WHERE o.id = s.id AND o.account_id = s.account_id AND o.status IN ('pending', 'cancelled')
RETURNING o.id, o.status = 'sent' AS sent
"""

# The first file id Telegram gave a bot for a media link stays (another runner may have
# recorded the same link meanwhile).
_REMEMBER_FILES = """
INSERT INTO bot_media (account_id, bot_id, url, file_id)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
ON CONFLICT (bot_id, url) DO NOTHING
"""

# Locked in id order, as every batch does, so two batches never wait on each other in a cycle.
# The state comes back only when the caller does not hold it already (same run, version).
_LOCK_ACTIVE_RUNS = """
SELECT r.id, r.account_id, r.bot_id, r.chat_id, r.deployment_id, r.course_version_id,
       r.state_version,
       CASE WHEN r.id = c.known_run AND r.state_version = c.known_version THEN NULL
            ELSE r.state::text END AS state,
       p.first_name, p.username, r.telegram_user_id,
       EXISTS (SELECT 1 FROM webhook_endpoint w
               WHERE w.account_id = r.account_id AND w.active) AS hooked
FROM run r
JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[])
     AS c(account_id, bot_id, chat_id, known_run, known_version)
  ON r.bot_id = c.bot_id AND r.chat_id = c.chat_id AND r.account_id = c.account_id
LEFT JOIN participant p ON p.account_id = r.account_id AND p.id = r.participant_id
WHERE r.is_active
ORDER BY r.id
FOR UPDATE OF r
"""

# A student is known by their participant row, written as a run begins; one who never
# began a run (opened a link, did not pay) by their latest link visit in the account
# (storage/link_visits.py), looked up only for those with no participant row (so the
# COALESCEs take either the one row or the other, never a mix).
_STUDENT_NAMES = """
SELECT s.account_id, s.user_id AS telegram_user_id,
       COALESCE(p.first_name, v.first_name) AS first_name,
       COALESCE(p.username, v.username) AS username,
       COALESCE(p.language_code, v.language_code) AS language_code
FROM unnest($1::bigint[], $2::bigint[]) AS s(account_id, user_id)
LEFT JOIN participant p ON p.account_id = s.account_id AND p.telegram_user_id = s.user_id
LEFT JOIN LATERAL (
    SELECT l.first_name, l.username, l.language_code, l.last_at
    FROM link_visit l
    WHERE p.id IS NULL AND l.account_id = s.account_id AND l.telegram_user_id = s.user_id
    ORDER BY l.last_at DESC
    LIMIT 1
) v ON true
WHERE p.id IS NOT NULL OR v.last_at IS NOT NULL
"""

_COURSE_ELEMENTS = """
SELECT v.id, v.elements::text AS elements FROM course_version v
JOIN unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
  ON v.id = s.id AND v.account_id = s.account_id
"""

# A run moves to another version of its course only if the element it stands on exists
# there (one that has not begun always moves): elsewhere it could not go on.
_REPIN_RUNS = """
UPDATE run r SET course_version_id = s.version_id, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS s(id, account_id, version_id)
WHERE r.id = s.id AND r.account_id = s.account_id AND r.is_active
  AND r.course_version_id <> s.version_id
  AND (r.current_element IS NULL OR EXISTS (
      SELECT 1 FROM course_element e
      WHERE e.account_id = r.account_id AND e.version_id = s.version_id
        AND e.element_id = r.current_element))
"""

# Everything a batch writes for its steps, in one statement (a round trip each cost an idle
# chat's reply a fraction of a millisecond, and a busy batch its share of the CPU): the runs'
# timers cancelled and added, their states (a finished run leaves `is_active` and gets
# `finished_at` and its note; the element it stands on is kept beside the state for the
# panel, migration 0010), their conversation lines, and the new messages, with what the same
# chats had pending before them. Every part reads the snapshot taken as the statement began:
# the cancelling sees none of the timers added here, and the pending list none of the
# messages queued here, so nothing comes back twice. New messages' ids are in the order
# given (rows are numbered as the ordered SELECT yields them).
#
# `{head}` and `{gate}` are empty in a batch's transaction; a lone step (_LONE_STEP) puts
# its guard in front and makes every part wait on it.
_STEP_PARTS = """
WITH {head}cancelled AS (
    UPDATE waiting w SET status = 'cancelled'
    FROM unnest($1::bigint[], $2::bigint[]) AS s(run_id, account_id)
    WHERE w.run_id = s.run_id AND w.account_id = s.account_id AND w.status = 'pending' {gate}
), added AS (
    INSERT INTO waiting (account_id, run_id, wait_id, due_at, goto)
    SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[])
    WHERE true {gate}
), saved AS (
    UPDATE run r SET state = s.state::jsonb, current_element = s.current, updated_at = now(),
           status = COALESCE(s.finish, r.status),
           is_active = s.finish IS NULL,
           finished_at = CASE WHEN s.finish IS NULL THEN NULL ELSE now() END,
           note = s.note
    FROM unnest($8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[])
         AS s(id, account_id, state, current, finish, note)
    WHERE r.id = s.id AND r.account_id = s.account_id AND r.is_active {gate}
), lines AS (
    INSERT INTO conversation (account_id, run_id, element_id, role, text, score, maxscore)
    SELECT l.account_id, l.run_id, l.element_id, l.role, l.text, l.score, l.maxscore
    FROM unnest($14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[],
                $19::float8[], $20::float8[]) WITH ORDINALITY
         AS l(account_id, run_id, element_id, role, text, score, maxscore, n)
    WHERE true {gate}
    ORDER BY l.n
), queued AS (
    INSERT INTO outbox (account_id, bot_id, chat_id, run_id, payload)
    SELECT m.account_id, m.bot_id, m.chat_id, m.run_id, m.payload::jsonb
    FROM unnest($21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::text[])
         WITH ORDINALITY AS m(account_id, bot_id, chat_id, run_id, payload, n)
    WHERE true {gate}
    ORDER BY m.n
    RETURNING id, account_id, bot_id, chat_id, run_id
)
SELECT id, account_id, bot_id, chat_id, run_id, NULL::text AS payload FROM queued
UNION ALL
SELECT p.* FROM unnest($26::bigint[], $27::bigint[], $28::bigint[])
     AS c(account_id, bot_id, chat_id)
CROSS JOIN LATERAL (
    SELECT o.id, o.account_id, o.bot_id, o.chat_id, o.run_id, o.payload::text
    FROM outbox o
    WHERE o.bot_id = c.bot_id AND o.chat_id = c.chat_id AND o.account_id = c.account_id
      AND o.status = 'pending'
    ORDER BY o.id
    LIMIT $29
) p
"""
_WRITE_STEPS = _STEP_PARTS.format(head="", gate="")

# An idle chat's update stored, claimed and stepped by one statement, which commits alone:
# one round trip where a batch's transaction takes six (BEGIN, fence, store, lock, write,
# COMMIT; runtime/journal_batch.py `Batch.run_alone`). The step was computed from the run
# state this process holds; the guard writes it only if that state is still the run's (same
# version, same course version), the run still active and locked, the runner ($39; NULL:
# the only one) still holds the bot's lease (locked as a batch's fence locks it), no older
# update of the chat waits, the account has no webhook endpoint (whose events a batch
# writes) and the update is new. Otherwise the statement writes nothing at all and the
# update goes the batch's way. The stored update's id comes back as a row with no bot (the
# other rows are `_STEP_PARTS`').
_LONE_STEP = (
    _STEP_PARTS.format(
        head="""leased AS (
    SELECT bot_id FROM bot_lease
    WHERE bot_id = $31 AND holder = $39 AND expires_at > now()
    FOR KEY SHARE
), guard AS (
    SELECT r.id FROM run r
    WHERE r.id = $34 AND r.account_id = $30 AND r.bot_id = $31 AND r.chat_id = $32
      AND ($39::text IS NULL OR EXISTS (SELECT 1 FROM leased))
      AND r.is_active AND r.state_version = $35 AND r.course_version_id = $36
      AND NOT EXISTS (SELECT 1 FROM webhook_endpoint w
                      WHERE w.account_id = r.account_id AND w.active)
      AND NOT EXISTS (SELECT 1 FROM processed_update older
                      WHERE older.bot_id = $31 AND older.chat_id = $32
                        AND older.processed_at IS NULL AND older.update_id < $33)
    FOR UPDATE OF r
), stored AS (
    INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, payload, processed_at)
    SELECT $30, $31, $33, $32, $37::jsonb, $38::timestamptz FROM guard
    ON CONFLICT (bot_id, update_id) DO NOTHING
    RETURNING id
), """,
        gate="AND EXISTS (SELECT 1 FROM stored)",
    )
    + """UNION ALL
SELECT id, NULL, NULL, NULL, NULL, NULL FROM stored
"""
)

# How many earlier messages of a chat one read hands to delivery at most; with more pending,
# delivery reads the rest itself (adapters/telegram/delivery.py).
PENDING_LIMIT = 20


# ---- rows ------------------------------------------------------------------------------------


ChatKey = tuple[int, int]  # (bot_id, chat_id)


class NewUpdate(NamedTuple):
    account_id: int
    bot_id: int
    update_id: int
    chat_id: int | None  # None: nothing to handle, stored as processed
    payload: str  # JSON text
    claim: bool = False  # claim it for handling in this transaction, if it is its chat's next


class ActiveRun(NamedTuple):
    """A chat's active run, locked; `state` None: the caller said it holds this version.
    `first_name`/`username`: the student's, as last seen (for personal texts). `hooked`:
    the account has a webhook endpoint, so the run's events are worth writing (True when not
    known)."""

    id: int
    account_id: int
    bot_id: int
    chat_id: int
    deployment_id: int
    course_version_id: int
    state_version: int
    state: dict[str, Any] | None
    first_name: str | None = None
    username: str | None = None
    telegram_user_id: int | None = None
    hooked: bool = True


class KnownStudent(NamedTuple):
    """What the school knows of a student (their Telegram profile as last seen)."""

    first_name: str | None
    username: str | None
    language_code: str | None


class RunQuery(NamedTuple):
    """A chat whose active run to lock, and the run and state version the caller holds."""

    account_id: int
    bot_id: int
    chat_id: int
    known_run: int | None = None
    known_version: int | None = None


class PendingMessage(NamedTuple):
    """An unsent outbox row, as delivery needs it (the same attributes as `models.Outbox`)."""

    id: int
    account_id: int
    bot_id: int
    chat_id: int
    run_id: int | None
    payload: dict[str, Any]


class NewMessage(NamedTuple):
    account_id: int
    bot_id: int
    chat_id: int
    run_id: int | None
    payload: dict[str, Any]


class NewWait(NamedTuple):
    account_id: int
    run_id: int
    wait_id: str
    due_at: datetime
    goto: str | None


@dataclass(frozen=True, slots=True)
class ChatsWithWork:
    """A bot's chats with stored, unprocessed updates and with unsent messages."""

    inbox: frozenset[int] = frozenset()
    outbox: frozenset[int] = frozenset()


@dataclass(slots=True)
class RunWrites:
    """Everything a batch writes for the runs it advanced, gathered run by run."""

    # (run id, account id, state JSON, current element, final status or None, its note)
    states: list[tuple[int, int, str, str | None, str | None, str | None]] = field(
        default_factory=list
    )
    cancel_waits: list[tuple[int, int]] = field(default_factory=list)  # (run_id, account_id)
    waits: list[NewWait] = field(default_factory=list)
    lines: list[tuple[int, int, Line]] = field(default_factory=list)  # (account, run, line)


@dataclass
class BatchStats:
    """Transactions and statements run through batch connections (benchmarks read these)."""

    transactions: int = 0
    statements: int = 0


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows -> one list per column: the parallel arrays a statement `unnest`s."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


class BatchConnection:
    """One asyncpg connection running batch transactions, one at a time."""

    def __init__(self, connection: asyncpg.Connection, stats: BatchStats) -> None:
        self._conn = connection
        self._stats = stats
        self._session_accounts: str | None = None  # see `_name_session_account`

    @property
    def closed(self) -> bool:
        return self._conn.is_closed()

    async def close(self) -> None:
        self._conn.terminate()

    async def execute(self, query: str, *args: Any) -> str:
        self._stats.statements += 1
        return await self._conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self._stats.statements += 1
        return await self._conn.fetch(query, *args)

    # ---- transaction -----------------------------------------------------------------------

    async def begin(self, account_ids: Iterable[int]) -> None:
        """BEGIN, naming the accounts this transaction may see, in one round trip."""
        self._stats.transactions += 1
        literal = _accounts_literal(account_ids)
        await self.execute(f"BEGIN; SELECT set_config('app.account_ids', '{literal}', true)")

    async def _name_session_account(self, account_id: int) -> None:
        """Name the one account the statements outside a transaction may see (a lone step),
        for the connection's session; a round trip only when the account changes. A batch's
        transaction names its own accounts, which hide this for as long as it lasts."""
        literal = _accounts_literal([account_id])
        if literal != self._session_accounts:
            await self.execute(f"SELECT set_config('app.account_ids', '{literal}', false)")
            self._session_accounts = literal

    async def commit(self) -> None:
        await self.execute("COMMIT")

    async def rollback(self) -> None:
        if not self._conn.is_closed():
            await self.execute("ROLLBACK")

    # ---- inbox -----------------------------------------------------------------------------

    async def store_updates(
        self, updates: Sequence[NewUpdate], now: datetime
    ) -> dict[tuple[int, int], tuple[int, bool]]:
        """Insert the updates; (bot_id, update_id) -> (inbox id, claimed) of those not stored
        before (`claimed`: one marked `claim` that was its chat's next, now processed)."""
        rows = [(u.account_id, u.bot_id, u.update_id, u.chat_id, u.payload) for u in updates]
        claims = [u.claim for u in updates]
        stored = await self.fetch(_STORE_UPDATES, *columns(rows, 5), now, claims)
        return {(r["bot_id"], r["update_id"]): (r["id"], r["claimed"]) for r in stored}

    async def touch_bots(self, bots: Sequence[tuple[int, int]], now: datetime) -> None:
        """(bot id, account id): an update arrived just now (shown in the panel)."""
        if bots:
            await self.execute(_TOUCH_BOTS, *columns(bots, 2), now)

    async def chats_with_work(self, bots: Sequence[tuple[int, int]]) -> dict[int, ChatsWithWork]:
        """(bot id, account id) -> its chats with work left."""
        if not bots:
            return {}
        inbox: dict[int, set[int]] = {}
        outbox: dict[int, set[int]] = {}
        for r in await self.fetch(_CHATS_WITH_WORK, *columns(bots, 2)):
            (inbox if r["inbox"] else outbox).setdefault(r["bot_id"], set()).add(r["chat_id"])
        return {
            bot_id: ChatsWithWork(
                frozenset(inbox.get(bot_id, ())), frozenset(outbox.get(bot_id, ()))
            )
            for bot_id, _ in bots
        }

    async def claim_updates(self, updates: Sequence[tuple[int, int]], now: datetime) -> set[int]:
        """Mark (inbox id, account id) processed where each is its chat's oldest still
        unprocessed; the ids claimed (the rest: handled elsewhere, or older ones wait)."""
        claimed = await self.fetch(_CLAIM_UPDATES, *columns(updates, 2), now)
        return {row["id"] for row in claimed}

    async def record_errors(self, failures: Sequence[tuple[int, int, str]], now: datetime) -> None:
        """(inbox id, account id, error): the update is processed, with what went wrong."""
        if failures:
            await self.execute(_RECORD_ERRORS, *columns(failures, 3), now)

    # ---- runs ------------------------------------------------------------------------------

    async def lock_active_runs(self, chats: Iterable[RunQuery]) -> dict[ChatKey, ActiveRun]:
        """(bot, chat) -> the chat's active run, locked FOR UPDATE."""
        rows = [
            (q.account_id, q.bot_id, q.chat_id, q.known_run, q.known_version)
            for q in {(q.bot_id, q.chat_id): q for q in chats}.values()
        ]
        if not rows:
            return {}
        found = await self.fetch(_LOCK_ACTIVE_RUNS, *columns(rows, 5))
        return {
            (r["bot_id"], r["chat_id"]): ActiveRun(
                r["id"],
                r["account_id"],
                r["bot_id"],
                r["chat_id"],
                r["deployment_id"],
                r["course_version_id"],
                r["state_version"],
                orjson.loads(r["state"]) if r["state"] is not None else None,
                r["first_name"],
                r["username"],
                r["telegram_user_id"],
                r["hooked"],
            )
            for r in found
        }

    async def student_names(
        self, students: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], KnownStudent]:
        """(account id, Telegram user id) -> names and language of those known: by a run
        begun once, else by a visit of a deployment's link."""
        rows = sorted(set(students))
        if not rows:
            return {}
        found = await self.fetch(_STUDENT_NAMES, *columns(rows, 2))
        return {
            (r["account_id"], r["telegram_user_id"]): KnownStudent(
                r["first_name"], r["username"], r["language_code"]
            )
            for r in found
        }

    async def course_elements(self, versions: Iterable[tuple[int, int]]) -> dict[int, str]:
        """(version id, account id) -> the version's stored elements as JSON text (for the
        course cache)."""
        rows = sorted(set(versions))
        if not rows:
            return {}
        found = await self.fetch(_COURSE_ELEMENTS, *columns(rows, 2))
        return {r["id"]: r["elements"] for r in found}

    async def repin_runs(self, runs: Sequence[tuple[int, int, int]]) -> None:
        """(run id, account id, course version id): move each active run to that version of
        its course where it can go on there."""
        if runs:
            await self.execute(_REPIN_RUNS, *columns(runs, 3))

    # ---- outbox ----------------------------------------------------------------------------

    async def write_steps(
        self,
        writes: RunWrites,
        messages: Sequence[NewMessage] = (),
        chats: Iterable[tuple[int, int, int]] = (),
    ) -> dict[ChatKey, list[PendingMessage]]:
        """Write the runs' steps (timers cancelled, then the new ones, states, conversation
        lines) and queue `messages`, in one statement; return, per (account, bot, chat) of
        `chats`, its pending messages in order: up to PENDING_LIMIT earlier ones, then the new
        ones (only when every earlier one is included, so that delivery never sends a newer
        message before an older one)."""
        wanted = sorted(set(chats))
        parts = (messages, wanted, writes.cancel_waits, writes.waits, writes.states, writes.lines)
        if not any(parts):
            return {}
        found = await self.fetch(_WRITE_STEPS, *_step_arguments(writes, messages, wanted))
        return _pending_after(found, messages, wanted)

    async def write_lone_step(
        self,
        update: NewUpdate,
        run: ActiveRun,
        writes: RunWrites,
        messages: Sequence[NewMessage],
        now: datetime,
        lease_holder: str | None = None,
    ) -> tuple[int, list[PendingMessage]] | None:
        """Store `update`, claimed, and write its step on `run` (the version the step was
        computed from) in one statement that commits alone (_LONE_STEP); the update's inbox
        id and its chat's pending messages as `write_steps` gives them, or None when the
        guard found the run or the chat changed, or `lease_holder` no longer holding the
        bot, and nothing was written."""
        assert update.chat_id is not None
        await self._name_session_account(update.account_id)
        self._stats.transactions += 1
        chat = (update.account_id, update.bot_id, update.chat_id)
        found = await self.fetch(
            _LONE_STEP,
            *_step_arguments(writes, messages, [chat]),
            update.account_id,
            update.bot_id,
            update.chat_id,
            update.update_id,
            run.id,
            run.state_version,
            run.course_version_id,
            update.payload,
            now,
            lease_holder,
        )
        stored = [r["id"] for r in found if r["bot_id"] is None]
        if not stored:
            return None
        pending = _pending_after([r for r in found if r["bot_id"] is not None], messages, [chat])
        return stored[0], pending[(update.bot_id, update.chat_id)]

    async def remember_files(self, rows: Sequence[tuple[int, int, str, str]]) -> None:
        """(account id, bot id, media link, file id) Telegram returned for links it fetched."""
        if rows:
            await self.execute(_REMEMBER_FILES, *columns(rows, 4))

    async def mark_sent(self, rows: Sequence[tuple[int, int]], now: datetime) -> set[int]:
        """(outbox id, account id) of messages Telegram accepted; the ids of those that were
        still pending (the others were dropped by a stop, or recorded already)."""
        if not rows:
            return set()
        marked = await self.fetch(_MARK_SENT, *columns(rows, 2), now)
        return {r["id"] for r in marked if r["sent"]}


def _accounts_literal(account_ids: Iterable[int]) -> str:
    """The accounts as an array literal for `app.account_ids`. They are ints we format
    ourselves (a bind parameter is impossible in a multi-statement query), checked so that
    nothing else can ever reach the text."""
    ids = sorted(set(account_ids))
    if not ids or any(type(i) is not int or i <= 0 for i in ids):
        raise ValueError(f"a batch needs positive integer account ids, got {ids!r}")
    return "{" + ",".join(map(str, ids)) + "}"


def _step_arguments(
    writes: RunWrites, messages: Sequence[NewMessage], chats: Sequence[tuple[int, int, int]]
) -> list[Any]:
    """The parameters $1 to $29 of `_STEP_PARTS`."""
    waits = [(w.account_id, w.run_id, w.wait_id, w.due_at, w.goto) for w in writes.waits]
    lines = [
        (
            account,
            run,
            ln.element_id,
            ConversationRole(ln.role).value,
            ln.text,
            ln.score,
            ln.maxscore,
        )
        for account, run, ln in writes.lines
    ]
    rows = [
        (m.account_id, m.bot_id, m.chat_id, m.run_id, orjson.dumps(m.payload).decode())
        for m in messages
    ]
    return [
        *columns(writes.cancel_waits, 2),
        *columns(waits, 5),
        *columns(writes.states, 6),
        *columns(lines, 7),
        *columns(rows, 5),
        *columns(chats, 3),
        PENDING_LIMIT,
    ]


def _pending_after(
    found: Sequence[asyncpg.Record],
    messages: Sequence[NewMessage],
    wanted: Sequence[tuple[int, int, int]],
) -> dict[ChatKey, list[PendingMessage]]:
    """The rows of `_STEP_PARTS` as each wanted chat's pending messages (see `write_steps`)."""
    new_ids: dict[ChatKey, list[int]] = {}
    pending: dict[ChatKey, list[PendingMessage]] = {(b, c): [] for _, b, c in wanted}
    for r in found:
        key = (r["bot_id"], r["chat_id"])
        if r["payload"] is None:
            new_ids.setdefault(key, []).append(r["id"])
        elif key in pending:
            pending[key].append(_pending(r, orjson.loads(r["payload"])))
    new_payloads: dict[ChatKey, list[NewMessage]] = {}
    for message in messages:
        new_payloads.setdefault((message.bot_id, message.chat_id), []).append(message)
    for key, earlier in pending.items():
        if len(earlier) >= PENDING_LIMIT:
            continue  # delivery reads the rest, new ones included, in order
        earlier.sort(key=lambda m: m.id)
        ids = sorted(new_ids.get(key, ()))
        for row_id, message in zip(ids, new_payloads.get(key, ()), strict=True):
            earlier.append(
                PendingMessage(
                    row_id,
                    message.account_id,
                    message.bot_id,
                    message.chat_id,
                    message.run_id,
                    message.payload,
                )
            )
    return pending


def _pending(row: asyncpg.Record, payload: dict[str, Any]) -> PendingMessage:
    return PendingMessage(
        row["id"], row["account_id"], row["bot_id"], row["chat_id"], row["run_id"], payload
    )
