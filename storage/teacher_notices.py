"""Teacher notifications: what a member who opted in should be told about a deployment's
students, found by a sweep, told once.

A member's `member_notification` row asks for word (in Telegram, from the deployment's bot)
when a student finishes, when a `test` element scores below `fail_below` percent (a test's
score is the conversation line the element wrote, with its score and max score), or when a
run gets stuck (storage/run_activity.py `is_stuck`, once per stretch of silence); or, with a
`digest_hour`, one message a day with counts and names instead.

The runner's sweep claims opt-ins with FOR UPDATE SKIP LOCKED (several runners share them),
and each notice is recorded in `member_notice` (unique per opt-in, run, kind and episode)
before its message is written into the member's chat inbox as a `notify` event, in the same
transaction: a crash loses nothing and repeats nothing, and the journal sends it like any
message (DESIGN §5). Each query reads only what happened within the last `WINDOW` and after
the opt-in, through indexes on a deployment's finished runs, its active runs by their last
step, and the scored lines of tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage import inbox_events
from storage.batch import BatchConnection, columns
from storage.inbox_events import Notify
from storage.models import (
    Account,
    AccountMember,
    Conversation,
    Course,
    CourseDeployment,
    CourseVersion,
    MemberNotice,
    MemberNotification,
    Participant,
    Run,
    RunStatus,
)
from storage.run_activity import is_stuck

# Instant notices of one kind per member and look; more wait for the next look (a chat
# takes about a message a second anyway).
PER_LOOK = 30
# How far back a sweep looks for what happened (longer outages are not told afterwards).
WINDOW = timedelta(days=1)

FINISHED = "finished"
FAILED = "failed"
STUCK = "stuck"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A claimed opt-in, with what composing and addressing its messages needs."""

    id: int
    account_id: int
    deployment_id: int
    telegram_user_id: int
    bot_id: int
    course_title: str
    language: str | None
    time_zone: str
    stuck_after_minutes: int
    on_finish: bool
    on_fail: bool
    fail_below: int | None
    on_stuck: bool
    digest_hour: int | None
    last_digest_on: date | None
    created_at: datetime


class StudentEvent(NamedTuple):
    """Something to tell about one student's run: `percent` for a failed test."""

    kind: str
    run_id: int
    student: str
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    finished: list[str]
    failed: list[str]
    stuck: list[str]


_CLAIM = text("SELECT id, account_id FROM sys_claim_member_notifications(:now, :limit)")
_NAME_ACCOUNTS = text("SELECT set_config('app.account_ids', :ids, true)")


async def claim(session: AsyncSession, now: datetime, limit: int) -> list[Subscription]:
    """In a system transaction: lock up to `limit` opt-ins due a look (SKIP LOCKED) and name
    their accounts to PostgreSQL; those a member may hear from (no refusal from Telegram)."""
    claimed = (await session.execute(_CLAIM, {"now": now, "limit": limit})).all()
    if not claimed:
        return []
    accounts = "{" + ",".join(str(a) for a in sorted({c.account_id for c in claimed})) + "}"
    await session.execute(_NAME_ACCOUNTS, {"ids": accounts})
    n = MemberNotification
    rows = await session.execute(
        select(
            n,
            CourseDeployment.bot_id,
            Course.title,
            AccountMember.ui_language,
            Account.time_zone,
            Account.stuck_after_minutes,
        )
        .join(
            CourseDeployment,
            and_(
                CourseDeployment.id == n.deployment_id,
                CourseDeployment.account_id == n.account_id,
            ),
        )
        .join(CourseVersion, CourseVersion.id == CourseDeployment.course_version_id)
        .join(Course, Course.id == CourseVersion.course_id)
        .join(
            AccountMember,
            and_(
                AccountMember.account_id == n.account_id,
                AccountMember.telegram_user_id == n.telegram_user_id,
            ),
        )
        .join(Account, Account.id == n.account_id)
        .where(n.id.in_([c.id for c in claimed]), n.refused_at.is_(None))
    )
    return [
        Subscription(
            row.id,
            row.account_id,
            row.deployment_id,
            row.telegram_user_id,
            bot_id,
            title,
            language,
            zone,
            stuck_after,
            row.on_finish,
            row.on_fail,
            row.fail_below,
            row.on_stuck,
            row.digest_hour,
            row.last_digest_on,
            row.created_at,
        )
        for row, bot_id, title, language, zone, stuck_after in rows.all()
    ]


async def look_again(session: AsyncSession, ids: Sequence[int], at: datetime) -> None:
    await session.execute(
        update(MemberNotification).where(MemberNotification.id.in_(ids)).values(sweep_at=at)
    )


def _name() -> ColumnElement[str]:
    """The run's student as a teacher knows them: name, else @username, else the id (with
    `participant` outer-joined on `_STUDENT`)."""
    full = func.nullif(
        func.trim(func.concat_ws(" ", Participant.first_name, Participant.last_name)), ""
    )
    return func.coalesce(full, "@" + Participant.username, cast(Run.telegram_user_id, Text))


# The run's participant (outer-joined: a run may have none) for `_name`.
_STUDENT = and_(Participant.id == Run.participant_id, Participant.account_id == Run.account_id)


_PERCENT = case(
    (Conversation.maxscore > 0, Conversation.score * 100 / Conversation.maxscore), else_=0.0
)


def _of_deployment(sub: Subscription) -> list[ColumnElement[bool]]:
    return [Run.account_id == sub.account_id, Run.deployment_id == sub.deployment_id]


_Episode = (
    ColumnElement[datetime]
    | ColumnElement[datetime | None]
    | InstrumentedAttribute[datetime]
    | InstrumentedAttribute[datetime | None]
)


def _untold(sub: Subscription, kind: str, episode: _Episode) -> ColumnElement[bool]:
    """Not yet told to this member (instant notices go out PER_LOOK at a time, oldest first,
    so each look must skip what earlier looks told)."""
    return ~exists().where(
        MemberNotice.account_id == sub.account_id,
        MemberNotice.notification_id == sub.id,
        MemberNotice.run_id == Run.id,
        MemberNotice.kind == kind,
        MemberNotice.episode == episode,
    )


async def _finished(
    session: AsyncSession, sub: Subscription, since: datetime, *, untold: bool = False
) -> list[Any]:
    query = (
        select(Run.id, Run.finished_at, _name())
        .select_from(Run)
        .outerjoin(Participant, _STUDENT)
        .where(
            *_of_deployment(sub),
            Run.finished_at > since,
            Run.status == RunStatus.COMPLETED.value,
        )
        .order_by(Run.finished_at)
    )
    if untold:
        query = query.where(_untold(sub, FINISHED, Run.finished_at)).limit(PER_LOOK)
    return list((await session.execute(query)).all())


async def _failed(
    session: AsyncSession, sub: Subscription, since: datetime, below: int, *, untold: bool = False
) -> list[Any]:
    query = (
        select(Run.id, Conversation.created_at, _name(), _PERCENT)
        .select_from(Conversation)
        .join(Run, and_(Run.id == Conversation.run_id, Run.account_id == Conversation.account_id))
    )
    query = (
        query.outerjoin(Participant, _STUDENT)
        .where(
            Conversation.account_id == sub.account_id,
            Conversation.role == "bot",
            Conversation.maxscore.is_not(None),
            Conversation.created_at > since,
            Run.deployment_id == sub.deployment_id,
            below > _PERCENT,
        )
        .order_by(Conversation.created_at)
    )
    if untold:
        query = query.where(_untold(sub, FAILED, Conversation.created_at)).limit(PER_LOOK)
    return list((await session.execute(query)).all())


async def _stuck(
    session: AsyncSession, sub: Subscription, now: datetime, since: datetime
) -> list[Any]:
    """Runs stuck now that became stuck after `since` (earlier ones were told already, or
    belong to before the opt-in): their last step is less than the account's threshold
    older than `since`. The explicit range on the last step lets the index on a
    deployment's active runs bound the scan; `is_stuck` stays the rule."""
    threshold = timedelta(minutes=sub.stuck_after_minutes)
    query = (
        select(Run.id, Run.updated_at, _name())
        .select_from(Run)
        .outerjoin(Participant, _STUDENT)
        .where(
            *_of_deployment(sub),
            is_stuck(now),
            Run.updated_at > since - threshold,
            Run.updated_at < now - threshold,
            _untold(sub, STUCK, Run.updated_at),
        )
        .order_by(Run.updated_at)
        .limit(PER_LOOK)
    )
    return list((await session.execute(query)).all())


async def new_events(session: AsyncSession, sub: Subscription, now: datetime) -> list[StudentEvent]:
    """What happened since the opt-in (within WINDOW) that this member has not been told,
    up to PER_LOOK of each kind, oldest first; recorded as told, in the caller's
    transaction."""
    since = max(sub.created_at, now - WINDOW)
    found: list[tuple[str, int, datetime, str, float | None]] = []
    if sub.on_finish:
        found += [
            (FINISHED, r, at, name, None)
            for r, at, name in await _finished(session, sub, since, untold=True)
        ]
    if sub.on_fail and sub.fail_below is not None:
        found += [
            (FAILED, r, at, name, pct)
            for r, at, name, pct in await _failed(session, sub, since, sub.fail_below, untold=True)
        ]
    if sub.on_stuck:
        found += [
            (STUCK, r, at, name, None) for r, at, name in await _stuck(session, sub, now, since)
        ]
    if not found:
        return []
    told = await session.execute(
        insert(MemberNotice)
        .values(
            [
                {
                    "account_id": sub.account_id,
                    "notification_id": sub.id,
                    "run_id": run_id,
                    "kind": kind,
                    "episode": episode,
                }
                for kind, run_id, episode, _, _ in found
            ]
        )
        .on_conflict_do_nothing()
        .returning(MemberNotice.run_id, MemberNotice.kind, MemberNotice.episode)
    )
    new = {tuple(row) for row in told.all()}
    return [
        StudentEvent(kind, run_id, name, pct)
        for kind, run_id, episode, name, pct in found
        if (run_id, kind, episode) in new
    ]


async def digest(session: AsyncSession, sub: Subscription, now: datetime) -> Digest:
    """The last day of the deployment: who finished, who failed a test (below the member's
    threshold, if set), who is stuck now."""
    since = now - timedelta(days=1)
    finished = [name for _, _, name in await _finished(session, sub, since)]
    failed = (
        [name for _, _, name, _ in await _failed(session, sub, since, sub.fail_below)]
        if sub.fail_below is not None
        else []
    )
    stuck_rows = await session.execute(
        select(_name())
        .select_from(Run)
        .outerjoin(Participant, _STUDENT)
        .where(*_of_deployment(sub), is_stuck(now))
        .order_by(Run.updated_at)
    )
    return Digest(finished, list(dict.fromkeys(failed)), list(stuck_rows.scalars()))


async def mark_digest_sent(session: AsyncSession, sub: Subscription, day: date) -> None:
    await session.execute(
        update(MemberNotification).where(MemberNotification.id == sub.id).values(last_digest_on=day)
    )


async def tell(session: AsyncSession, sub: Subscription, message: str) -> None:
    """Write the member's message into their chat with the deployment's bot, for the journal."""
    await inbox_events.post(
        session, sub.account_id, sub.bot_id, sub.telegram_user_id, Notify(message)
    )


# ---- the journal's half: Telegram refused a chat -------------------------------------------

# A 403 in a chat: members of the bot's account who opted in for its deployments and are that
# chat never pressed Start there (or blocked the bot); the page says so, the sweep stops.
_MARK_REFUSED = """
UPDATE member_notification n SET refused_at = $4
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(account_id, bot_id, chat_id)
JOIN course_deployment d ON d.bot_id = x.bot_id AND d.account_id = x.account_id
WHERE n.account_id = x.account_id AND n.deployment_id = d.id
  AND n.telegram_user_id = x.chat_id AND n.refused_at IS NULL
"""


async def mark_refused(
    conn: BatchConnection, chats: Sequence[tuple[int, int, int]], now: datetime
) -> None:
    """(account id, bot id, chat id) that Telegram refused (403)."""
    if chats:
        await conn.execute(_MARK_REFUSED, *columns(chats, 3), now)
