"""Broadcasts in the database: audiences, recipients materialised in batches, the feed.

A broadcast never sends in one transaction. Its recipients are materialised a batch of
rows at a time (keyset on the row id: runs, or link visits for `not_started`), each batch
its own short transaction, so a hundred thousand students neither hold a long lock nor
block the journal. The feed then hands each
bot only as many recipients as it can send in a moment (`window`): claimed with FOR UPDATE
SKIP LOCKED, marked `posted` and turned into `broadcast` events in their chats' inboxes in
the same transaction (DESIGN §5 "One writer": the journal queues the message, delivery sends
it). So a crash loses nothing (the events are durable, queued recipients stay queued), two
runners never post one recipient, and UNIQUE (broadcast_id, chat_id) keeps every student at
one copy whatever happens (plus the outbox's documented one resend of a message in flight).

Who gets it is one SQL condition (`audience_rows`), used both for the count the teacher
sees before sending and for the materialisation: on `run` for the audiences of students
who started, on `link_visit` for those who opened the link but have no run of its
deployment (`not_started`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.batch import BatchConnection, columns
from storage.inbox_events import BroadcastDue
from storage.models import (
    Banned,
    Broadcast,
    BroadcastAudience,
    BroadcastRecipient,
    BroadcastStatus,
    CourseElement,
    InboxKind,
    LinkVisit,
    RecipientStatus,
    Run,
    RunStatus,
)
from storage.run_activity import is_stuck

MATERIALIZE_BATCH = 1000  # rows read per transaction when materialising recipients


@dataclass(frozen=True, slots=True)
class Audience:
    """Whom a broadcast is for: a deployment's students (or, with no deployment, every
    student of the bot) in one audience, narrowed by the optional filters."""

    bot_id: int
    deployment_id: int | None
    audience: BroadcastAudience
    token_id: int | None = None
    utm_source: str | None = None
    # Percent of the course's elements, inclusive; not for `not_started` (the API refuses it).
    progress_min: int | None = None
    progress_max: int | None = None

    def filters(self) -> dict[str, Any]:
        """The optional filters as the broadcast row keeps them."""
        values = {
            "token_id": self.token_id,
            "utm_source": self.utm_source,
            "progress_min": self.progress_min,
            "progress_max": self.progress_max,
        }
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def of(cls, row: Broadcast) -> Audience:
        return cls(row.bot_id, row.deployment_id, BroadcastAudience(row.audience), **row.filters)


@dataclass(frozen=True, slots=True)
class Progress:
    """A broadcast's recipients by fate: `queued` not handed to the runtime yet, `posted`
    on their way."""

    queued: int
    posted: int
    sent: int
    failed: int
    blocked: int
    cancelled: int


def run_progress() -> ColumnElement[int]:
    """How far a run got, in percent of its course's elements (correlated to `run`): a
    finished course is 100, one not begun 0; otherwise the position of the element it
    stands on. One indexed lookup and one count per run."""
    position = (
        select(CourseElement.position)
        .where(
            CourseElement.account_id == Run.account_id,
            CourseElement.version_id == Run.course_version_id,
            CourseElement.element_id == Run.current_element,
        )
        .correlate(Run)
        .scalar_subquery()
    )
    count = (
        select(func.count())
        .select_from(CourseElement)
        .where(
            CourseElement.account_id == Run.account_id,
            CourseElement.version_id == Run.course_version_id,
        )
        .correlate(Run)
        .scalar_subquery()
    )
    return case(
        (Run.status == RunStatus.COMPLETED.value, 100),
        (Run.current_element.is_(None), 0),
        else_=func.coalesce(position * 100 / func.nullif(count, 0), 0),
    )


@dataclass(frozen=True, slots=True)
class AudienceRows:
    """Where an audience's students are: the rows of one table matching `where`, each
    naming its chat; `key` orders them for the materialisation's keyset."""

    key: InstrumentedAttribute[int]
    chat_id: InstrumentedAttribute[int]
    where: list[ColumnElement[bool]]


def audience_rows(account_id: int, audience: Audience, now: datetime) -> AudienceRows:
    """The rows whose chats a broadcast reaches."""
    if audience.audience is BroadcastAudience.NOT_STARTED:
        return AudienceRows(LinkVisit.id, LinkVisit.chat_id, _not_started(account_id, audience))
    return AudienceRows(Run.id, Run.chat_id, _started(account_id, audience, now))


def _banned(
    account_id: InstrumentedAttribute[int],
    telegram_user_id: InstrumentedAttribute[int],
    bot_id: InstrumentedAttribute[int],
) -> ColumnElement[bool]:
    """The student is banned (in the whole account or on the bot): no broadcast reaches
    them, whichever audience they would be in."""
    return exists().where(
        Banned.account_id == account_id,
        Banned.telegram_user_id == telegram_user_id,
        or_(Banned.bot_id.is_(None), Banned.bot_id == bot_id),
    )


def _started(account_id: int, audience: Audience, now: datetime) -> list[ColumnElement[bool]]:
    """The runs of the audience. A student who blocked the bot (a run that ended `blocked`)
    is left out: Telegram would refuse the message anyway; so is a banned one."""
    conditions: list[ColumnElement[bool]] = [
        Run.account_id == account_id,
        Run.bot_id == audience.bot_id,
        Run.status != RunStatus.BLOCKED.value,
        ~_banned(Run.account_id, Run.telegram_user_id, Run.bot_id),
    ]
    if audience.deployment_id is not None:
        conditions.append(Run.deployment_id == audience.deployment_id)
    match audience.audience:
        case BroadcastAudience.ACTIVE:
            conditions.append(Run.is_active.is_(True))
        case BroadcastAudience.FINISHED:
            conditions.append(Run.status == RunStatus.COMPLETED.value)
        case BroadcastAudience.STUCK:
            conditions.append(is_stuck(now))
        case BroadcastAudience.ALL:
            pass
    if audience.token_id is not None:
        conditions.append(Run.token_id == audience.token_id)
    if audience.utm_source is not None:
        conditions.append(Run.utm_source == audience.utm_source)
    if audience.progress_min is not None or audience.progress_max is not None:
        progress = run_progress()
        if audience.progress_min is not None:
            conditions.append(progress >= audience.progress_min)
        if audience.progress_max is not None:
            conditions.append(progress <= audience.progress_max)
    return conditions


def _not_started(account_id: int, audience: Audience) -> list[ColumnElement[bool]]:
    """The link visits whose chat has no run (of any status) of the deployment visited;
    a banned student and one who blocked the bot since the visit are left out. The token
    and UTM filters are the visit's (its latest link)."""
    run_of_it = exists().where(
        Run.account_id == LinkVisit.account_id,
        Run.telegram_user_id == LinkVisit.telegram_user_id,  # indexed with account_id
        Run.deployment_id == LinkVisit.deployment_id,
        Run.chat_id == LinkVisit.chat_id,
    )
    conditions: list[ColumnElement[bool]] = [
        LinkVisit.account_id == account_id,
        LinkVisit.bot_id == audience.bot_id,
        LinkVisit.blocked_at.is_(None),
        ~run_of_it,
        ~_banned(LinkVisit.account_id, LinkVisit.telegram_user_id, LinkVisit.bot_id),
    ]
    if audience.deployment_id is not None:
        conditions.append(LinkVisit.deployment_id == audience.deployment_id)
    if audience.token_id is not None:
        conditions.append(LinkVisit.token_id == audience.token_id)
    if audience.utm_source is not None:
        conditions.append(LinkVisit.utm_source == audience.utm_source)
    return conditions


async def count_audience(
    session: AsyncSession, account_id: int, audience: Audience, now: datetime
) -> int:
    """How many students (chats) the broadcast would reach now."""
    rows = audience_rows(account_id, audience, now)
    stmt = select(func.count(func.distinct(rows.chat_id))).where(*rows.where)
    return int(await session.scalar(stmt) or 0)


async def materialize_batch(
    session: AsyncSession, broadcast: Broadcast, now: datetime, *, limit: int = MATERIALIZE_BATCH
) -> bool:
    """Add the recipients among the next `limit` rows of the audience (a chat already
    added is skipped) and move the cursor (`materialized_through`: the last row's id) on;
    True when the audience is exhausted."""
    rows = audience_rows(broadcast.account_id, Audience.of(broadcast), now)
    picked = (
        select(rows.key.label("id"), rows.chat_id.label("chat_id"))
        .where(*rows.where, rows.key > broadcast.materialized_through)
        .order_by(rows.key)
        .limit(limit)
        .cte("picked")
    )
    stmt = (
        pg_insert(BroadcastRecipient)
        .from_select(
            ["account_id", "broadcast_id", "bot_id", "chat_id"],
            select(
                literal(broadcast.account_id),
                literal(broadcast.id),
                literal(broadcast.bot_id),
                picked.c.chat_id,
            )
            .distinct()
            .select_from(picked),
        )
        .on_conflict_do_nothing(index_elements=["broadcast_id", "chat_id"])
        .returning(BroadcastRecipient.id)
        .cte("added")
    )
    row = (
        await session.execute(
            select(
                select(func.max(picked.c.id)).scalar_subquery(),
                select(func.count()).select_from(picked).scalar_subquery(),
                select(func.count()).select_from(stmt).scalar_subquery(),
            )
        )
    ).one()
    last_row, rows_read, new = row
    done: bool = int(rows_read) < limit
    values: dict[str, Any] = {
        "total": Broadcast.total + int(new or 0),
        "status": case(
            (Broadcast.status == BroadcastStatus.SCHEDULED.value, BroadcastStatus.SENDING.value),
            else_=Broadcast.status,
        ),
    }
    if last_row is not None:
        values["materialized_through"] = last_row
    if done:
        values["materialized_at"] = now
    await session.execute(
        update(Broadcast)
        .where(Broadcast.account_id == broadcast.account_id, Broadcast.id == broadcast.id)
        .values(**values)
    )
    return done


async def progress(
    session: AsyncSession, account_id: int, broadcast_ids: Sequence[int]
) -> dict[int, Progress]:
    """Each broadcast's recipients by fate."""
    if not broadcast_ids:
        return {}
    rows = await session.execute(
        select(BroadcastRecipient.broadcast_id, BroadcastRecipient.status, func.count())
        .where(
            BroadcastRecipient.account_id == account_id,
            BroadcastRecipient.broadcast_id.in_(broadcast_ids),
        )
        .group_by(BroadcastRecipient.broadcast_id, BroadcastRecipient.status)
    )
    counts: dict[int, dict[str, int]] = {b: {} for b in broadcast_ids}
    for broadcast_id, status, n in rows:
        counts[broadcast_id][status] = n
    return {
        b: Progress(
            queued=c.get(RecipientStatus.QUEUED, 0),
            posted=c.get(RecipientStatus.POSTED, 0),
            sent=c.get(RecipientStatus.SENT, 0),
            failed=c.get(RecipientStatus.FAILED, 0),
            blocked=c.get(RecipientStatus.BLOCKED, 0),
            cancelled=c.get(RecipientStatus.CANCELLED, 0),
        )
        for b, c in counts.items()
    }


async def cancel(session: AsyncSession, account_id: int, broadcast_id: int, now: datetime) -> bool:
    """Stop the broadcast: no more recipients are posted, and those posted but not yet
    queued as a message are dropped by the journal; False when it had ended already."""
    stmt = (
        update(Broadcast)
        .where(
            Broadcast.account_id == account_id,
            Broadcast.id == broadcast_id,
            Broadcast.status.in_([BroadcastStatus.SCHEDULED.value, BroadcastStatus.SENDING.value]),
        )
        .values(status=BroadcastStatus.CANCELLED.value, finished_at=now)
        .returning(Broadcast.id)
    )
    cancelled = (await session.execute(stmt)).first()
    return cancelled is not None


# ---- the runtime's side: what runs in the runner, for the bots it hosts -------------------

_NAME_ACCOUNTS = text("SELECT set_config('app.account_ids', :ids, true)")


async def name_accounts(session: AsyncSession, account_ids: Sequence[int]) -> None:
    """Let the (system) transaction see these accounts' rows, as the journal's batches do."""
    ids = sorted({int(a) for a in account_ids})
    await session.execute(_NAME_ACCOUNTS, {"ids": "{" + ",".join(map(str, ids)) + "}"})


async def claim_to_materialize(
    session: AsyncSession, bot_ids: Sequence[int], now: datetime
) -> Broadcast | None:
    """A due broadcast of these bots whose audience is not fully materialised yet, locked
    (SKIP LOCKED: another runner may be materialising another)."""
    stmt = (
        select(Broadcast)
        .where(
            Broadcast.bot_id.in_(bot_ids),
            Broadcast.status.in_([BroadcastStatus.SCHEDULED.value, BroadcastStatus.SENDING.value]),
            Broadcast.send_at <= now,
            Broadcast.materialized_at.is_(None),
        )
        .order_by(Broadcast.send_at, Broadcast.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).first()


# For each bot, as many of its queued recipients (of broadcasts still sending, oldest
# first) as its window has room for beside those already on their way; posted and turned
# into events in the same statement.
_FEED = text(f"""
WITH inflight AS (
    SELECT r.bot_id, count(*) AS n FROM broadcast_recipient r
    WHERE r.bot_id = ANY(:bot_ids) AND r.status = 'posted'
    GROUP BY r.bot_id
), claimed AS (
    SELECT c.id FROM unnest(CAST(:bot_ids AS bigint[])) AS b(bot_id)
    LEFT JOIN inflight i ON i.bot_id = b.bot_id
    CROSS JOIN LATERAL (
        SELECT r.id FROM broadcast_recipient r
        JOIN broadcast bc ON bc.id = r.broadcast_id AND bc.account_id = r.account_id
        WHERE r.bot_id = b.bot_id AND r.status = 'queued' AND bc.status = 'sending'
        ORDER BY r.id
        LIMIT GREATEST(0, :window - COALESCE(i.n, 0))
        FOR UPDATE OF r SKIP LOCKED
    ) c
), posted AS (
    UPDATE broadcast_recipient r SET status = 'posted', posted_at = :now
    FROM claimed c WHERE r.id = c.id
    RETURNING r.id, r.account_id, r.bot_id, r.chat_id, r.broadcast_id
)
INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, kind, payload)
SELECT p.account_id, p.bot_id, nextval('inbox_event_update_id'), p.chat_id,
       '{InboxKind.BROADCAST.value}',
       jsonb_build_object('broadcast_id', p.broadcast_id, 'recipient_id', p.id)
FROM posted p ORDER BY p.id
RETURNING id, bot_id, chat_id, update_id, payload
""")

# A broadcast is done once its audience is materialised and no recipient waits.
_FINISH = text("""
UPDATE broadcast b SET status = 'done', finished_at = :now
WHERE b.bot_id = ANY(:bot_ids) AND b.status = 'sending' AND b.materialized_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM broadcast_recipient r
                  WHERE r.broadcast_id = b.id AND r.account_id = b.account_id
                    AND r.status IN ('queued', 'posted'))
""")


@dataclass(frozen=True, slots=True)
class Posted:
    """A recipient's `broadcast` event, as written into its chat's inbox."""

    inbox_id: int
    update_id: int
    bot_id: int
    chat_id: int
    event: BroadcastDue


async def feed(
    session: AsyncSession, bot_ids: Sequence[int], now: datetime, *, window: int
) -> list[Posted]:
    """Post the bots' next recipients (see `_FEED`), in order."""
    params = {"bot_ids": list(bot_ids), "window": window, "now": now}
    return [
        Posted(r.id, r.update_id, r.bot_id, r.chat_id, BroadcastDue(**r.payload))
        for r in await session.execute(_FEED, params)
    ]


async def finish_done(session: AsyncSession, bot_ids: Sequence[int], now: datetime) -> None:
    await session.execute(_FINISH, {"bot_ids": list(bot_ids), "now": now})


# ---- the journal's side -------------------------------------------------------------------

_MESSAGES = """
SELECT b.id, b.status, b.message::text AS message FROM broadcast b
JOIN unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
  ON b.id = s.id AND b.account_id = s.account_id
"""

_QUEUE = """
INSERT INTO outbox (account_id, bot_id, chat_id, broadcast_recipient_id, payload)
SELECT m.account_id, m.bot_id, m.chat_id, m.recipient_id, m.payload::jsonb
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
     AS m(account_id, bot_id, chat_id, recipient_id, payload)
"""

_DROP_RECIPIENTS = """
UPDATE broadcast_recipient r SET status = 'cancelled', finished_at = $3
FROM unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
WHERE r.id = s.id AND r.account_id = s.account_id AND r.status = 'posted'
"""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A broadcast's message as the journal queues it; `cancelled`: queue nothing."""

    message: str  # JSON text of an outbox payload
    cancelled: bool


async def messages(
    conn: BatchConnection, broadcasts: Sequence[tuple[int, int]]
) -> dict[int, StoredMessage]:
    """(broadcast id, account id) -> its message, for a batch's broadcast events."""
    rows = sorted(set(broadcasts))
    if not rows:
        return {}
    found = await conn.fetch(_MESSAGES, *columns(rows, 2))
    return {
        r["id"]: StoredMessage(r["message"], r["status"] == BroadcastStatus.CANCELLED.value)
        for r in found
    }


async def queue_messages(
    conn: BatchConnection, rows: Sequence[tuple[int, int, int, int, str]]
) -> None:
    """(account, bot, chat, recipient id, payload JSON): the recipients' messages, into
    their chats' outboxes (before the batch's own messages are queued and the chats'
    pending rows read, so delivery gets them with the rest)."""
    if rows:
        await conn.execute(_QUEUE, *columns(rows, 5))


async def drop_recipients(
    conn: BatchConnection, recipients: Sequence[tuple[int, int]], now: datetime
) -> None:
    """(recipient id, account id) of a cancelled broadcast: never queued, now cancelled."""
    if recipients:
        await conn.execute(_DROP_RECIPIENTS, *columns(recipients, 2), now)
