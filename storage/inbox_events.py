"""Events for the journal: what other producers than Telegram ask of a run (DESIGN §5).

Every change to a run is applied by the journal alone, through one set of statements. A
producer (the timer scheduler, the payments service, the panel) does not touch the run: it
writes an event into the inbox beside Telegram's updates, in its own transaction, and the
event is applied in its chat's order, like an update. Inserting one NOTIFYs the runtime
(migration 0010), delivered when the producer commits, so the runtime handles it at once
in whichever process it runs; the backlog sweep finds any whose notification was missed.

An event's `update_id` comes from the sequence `inbox_event_update_id` (negative, counting
up), so a chat's events are handled in the order they were written and before the Telegram
updates still waiting in its inbox.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboxKind


@dataclass(frozen=True, slots=True)
class TimerDue:
    """The run's durable timer `wait_id` fell due (fed to the run if it is still active)."""

    run_id: int
    wait_id: str


@dataclass(frozen=True, slots=True)
class AccessGranted:
    """A payment gave the student access: begin the deployment's course in the chat (the
    run of another deployment ends), unless it runs there already."""

    deployment_id: int
    telegram_user_id: int
    token_id: int | None  # the deep link's token, counted when the payment was offered


@dataclass(frozen=True, slots=True)
class AccessRefunded:
    """The payment was refunded: the chat's run of the deployment stops, and the student
    is told why."""

    deployment_id: int


@dataclass(frozen=True, slots=True)
class StopRun:
    """A teacher (or a ban) stopped the run."""

    run_id: int


@dataclass(frozen=True, slots=True)
class Repin:
    """Move the run to another version of its course, if the element it stands on exists
    there (a run that has not begun always moves)."""

    run_id: int
    course_version_id: int


@dataclass(frozen=True, slots=True)
class Blocked:
    """The student blocked the bot (Telegram answered 403): the chat's run ends as
    `blocked` (its unsent messages were given up when the answer came)."""


@dataclass(frozen=True, slots=True)
class Remind:
    """A reminder rule fell due for the run (storage/reminders.py): nudge the student, unless
    the run moved since `since` (its `updated_at` when the sweep saw it)."""

    run_id: int
    rule_id: int
    since: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A message for a member of the account in this chat (storage/teacher_notices.py)."""

    text: str


@dataclass(frozen=True, slots=True)
class BroadcastDue:
    """A broadcast's message for the chat (storage/broadcasts.py posts these): queued in
    the chat's outbox unless the broadcast was cancelled meanwhile."""

    broadcast_id: int
    recipient_id: int


@dataclass(frozen=True, slots=True)
class BroadcastTest:
    """A broadcast's message as a test, to the member writing it (an outbox payload)."""

    message: dict[str, Any]


InboxEvent = (
    TimerDue
    | AccessGranted
    | AccessRefunded
    | StopRun
    | Repin
    | Blocked
    | Remind
    | Notify
    | BroadcastDue
    | BroadcastTest
)

_KINDS: dict[type[Any], InboxKind] = {
    TimerDue: InboxKind.TIMER,
    AccessGranted: InboxKind.GRANT,
    AccessRefunded: InboxKind.REFUND,
    StopRun: InboxKind.STOP,
    Repin: InboxKind.REPIN,
    Blocked: InboxKind.BLOCKED,
    Remind: InboxKind.REMIND,
    Notify: InboxKind.NOTIFY,
    BroadcastDue: InboxKind.BROADCAST,
    BroadcastTest: InboxKind.BROADCAST_TEST,
}
_TYPES = {kind: type_ for type_, kind in _KINDS.items()}


def decode(kind: str, payload: dict[str, Any]) -> InboxEvent:
    """An inbox row of an event kind (not `telegram`) as its event."""
    event: InboxEvent = _TYPES[InboxKind(kind)](**payload)
    return event


_POST = text(
    "INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, kind, payload) "
    "VALUES (:account_id, :bot_id, nextval('inbox_event_update_id'), :chat_id, :kind, "
    "CAST(:payload AS jsonb))"
)

# One event per run, for the runs a statement selects (`{selection}`: a query of `run r`).
_POST_FOR_RUNS = """
INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, kind, payload)
SELECT r.account_id, r.bot_id, nextval('inbox_event_update_id'), r.chat_id, :kind,
       {payload}
FROM run r
WHERE r.account_id = :account_id AND r.is_active AND {selection}
ORDER BY r.id
RETURNING id
"""

_STOP_RUN = text(
    _POST_FOR_RUNS.format(payload="jsonb_build_object('run_id', r.id)", selection="r.id = :run_id")
)
_STOP_USER_RUNS = text(
    _POST_FOR_RUNS.format(
        payload="jsonb_build_object('run_id', r.id)",
        selection="r.telegram_user_id = :user_id AND (CAST(:bot_id AS bigint) IS NULL "
        "OR r.bot_id = :bot_id)",
    )
)
# The same test the journal applies (storage/batch.py `_REPIN_RUNS`), so that the count the
# panel shows is what will move unless a student moves on meanwhile.
_ON_OTHER_VERSION = "r.deployment_id = :deployment_id AND r.course_version_id <> :version_id"
_MOVABLE = (
    _ON_OTHER_VERSION + " AND (r.current_element IS NULL OR EXISTS (SELECT 1 FROM "
    "course_element e WHERE e.account_id = r.account_id AND e.version_id = :version_id "
    "AND e.element_id = r.current_element))"
)
_REPIN_DEPLOYMENT = text(
    _POST_FOR_RUNS.format(
        payload="jsonb_build_object('run_id', r.id, "
        "'course_version_id', CAST(:version_id AS bigint))",
        selection=_MOVABLE,
    )
)
# What an upgrade to the version would do to the active runs, before it is done.
_REPIN_PREVIEW = text(
    f"SELECT count(*) FILTER (WHERE {_ON_OTHER_VERSION}), count(*) FILTER (WHERE {_MOVABLE}) "
    "FROM run r WHERE r.account_id = :account_id AND r.is_active "
    "AND r.deployment_id = :deployment_id"
)


async def post(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, event: InboxEvent
) -> None:
    """Write `event` for the chat, in the caller's transaction."""
    params = {
        "account_id": account_id,
        "bot_id": bot_id,
        "chat_id": chat_id,
        "kind": _KINDS[type(event)].value,
        "payload": orjson.dumps(asdict(event)).decode(),
    }
    await session.execute(_POST, params)


async def stop_run(session: AsyncSession, account_id: int, run_id: int) -> bool:
    """Ask the journal to stop the run; False when it is not active."""
    params = {"account_id": account_id, "kind": InboxKind.STOP.value, "run_id": run_id}
    return (await session.execute(_STOP_RUN, params)).first() is not None


async def stop_user_runs(
    session: AsyncSession, account_id: int, telegram_user_id: int, bot_id: int | None
) -> int:
    """Ask the journal to stop the student's active runs (of one bot, or all); how many."""
    params = {
        "account_id": account_id,
        "kind": InboxKind.STOP.value,
        "user_id": telegram_user_id,
        "bot_id": bot_id,
    }
    return len((await session.execute(_STOP_USER_RUNS, params)).all())


async def repin_deployment(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> int:
    """Ask the journal to move the deployment's active runs to `version_id` (those standing
    on an element the version lacks keep their pin); how many were asked to move."""
    params = {
        "account_id": account_id,
        "kind": InboxKind.REPIN.value,
        "deployment_id": deployment_id,
        "version_id": version_id,
    }
    return len((await session.execute(_REPIN_DEPLOYMENT, params)).all())


async def repin_preview(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> tuple[int, int]:
    """(active runs of the deployment on another version, how many of them
    `repin_deployment` would move now): the rest stand on an element the version lacks."""
    params = {"account_id": account_id, "deployment_id": deployment_id, "version_id": version_id}
    row = (await session.execute(_REPIN_PREVIEW, params)).one()
    return int(row[0]), int(row[1])
