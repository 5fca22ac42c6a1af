"""Runs as the panel lists them: filtered, newest first, without the (large) state JSON, with
where each run is (its element's index in the version), its score so far, its last activity
and whether it is stuck."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Row,
    Select,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CourseElement, EnrollmentToken, Participant, Run, RunStatus
from storage.run_activity import is_stuck

ENDED_BADLY = (
    RunStatus.STOPPED.value,
    RunStatus.BLOCKED.value,
    RunStatus.DECLINED.value,
    RunStatus.HALTED.value,
)
"""Runs that ended without the student finishing the course: the dashboard's drop-off."""


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    deployment_id: int | None = None
    token_id: int | None = None
    token: str | None = None
    """A token's label (any case) or its value, in any deployment of the account."""
    telegram_user_id: int | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    finished_from: datetime | None = None
    finished_to: datetime | None = None
    dropped: bool = False
    stuck_at: datetime | None = None
    """Only runs stuck at this moment (storage/run_activity.is_stuck)."""

    def criteria(self, account_id: int) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [Run.account_id == account_id]
        if self.status is not None:
            where.append(Run.status == self.status)
        if self.deployment_id is not None:
            where.append(Run.deployment_id == self.deployment_id)
        if self.token_id is not None:
            where.append(Run.token_id == self.token_id)
        if self.token is not None:
            where.append(Run.token_id.in_(tokens_called(account_id, self.token)))
        if self.telegram_user_id is not None:
            where.append(Run.telegram_user_id == self.telegram_user_id)
        if self.started_from is not None:
            where.append(Run.started_at >= self.started_from)
        if self.started_to is not None:
            where.append(Run.started_at < self.started_to)
        if self.finished_from is not None:
            where.append(Run.finished_at >= self.finished_from)
        if self.finished_to is not None:
            where.append(Run.finished_at < self.finished_to)
        if self.dropped:
            where.append(Run.status.in_(ENDED_BADLY))
        if self.stuck_at is not None:
            where.append(is_stuck(self.stuck_at))
        return where


def tokens_called(account_id: int, name: str) -> Select[int]:
    """Ids of the account's tokens labelled `name` (any case) or with that value."""
    return select(EnrollmentToken.id).where(
        EnrollmentToken.account_id == account_id,
        (func.lower(EnrollmentToken.label) == name.lower()) | (EnrollmentToken.token == name),
    )


async def token_exists(session: AsyncSession, account_id: int, name: str) -> bool:
    return bool(await session.scalar(select(tokens_called(account_id, name).exists())))


# The index of the run's element in its version (0-based; NULL: not started, or an element
# this version lacks): one probe of course_element's (version_id, element_id) key.
_INDEX = (
    select(CourseElement.position)
    .where(
        CourseElement.account_id == Run.account_id,
        CourseElement.version_id == Run.course_version_id,
        CourseElement.element_id == Run.current_element,
    )
    .correlate(Run)
    .scalar_subquery()
)


def _answers_sum(item: int) -> ColumnElement[float]:
    """engine/progress.score in SQL: the latest answer of every scored element of the
    run's version (state `answers`: element id -> [text, score, maxscore]), summed; item 1
    is the score (none counts 0), item 2 the max score. NULL: nothing scored yet."""
    return literal_column(
        f"""(SELECT sum(coalesce((answer.value ->> {item})::float8, 0))
  FROM jsonb_each(CASE jsonb_typeof(run.state -> 'answers') WHEN 'object'
                  THEN run.state -> 'answers' ELSE '{{}}'::jsonb END) AS answer
  JOIN course_element ce ON ce.account_id = run.account_id
   AND ce.version_id = run.course_version_id AND ce.element_id = answer.key
  WHERE jsonb_typeof(answer.value) = 'array' AND answer.value ->> 2 IS NOT NULL)""",
        Double(),
    )


def _columns(now: datetime) -> tuple[Any, ...]:
    return (
        Run.id,
        Run.deployment_id,
        Run.course_version_id,
        Run.bot_id,
        Run.chat_id,
        Run.telegram_user_id,
        Run.participant_id,
        Participant.username,
        Participant.first_name,
        Run.status,
        Run.note,
        Run.token_id,
        Run.current_element,
        Run.started_at,
        Run.finished_at,
        Run.updated_at.label("last_activity_at"),
        _INDEX.label("element_index"),
        _answers_sum(1).label("score"),
        _answers_sum(2).label("maxscore"),
        is_stuck(now).label("stuck"),
        Run.utm_source,
        Run.utm_medium,
        Run.utm_campaign,
        Run.utm_content,
        Run.utm_term,
    )


def _select(now: datetime, where: Sequence[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    return (
        select(*_columns(now))
        .outerjoin(
            Participant,
            (Participant.account_id == Run.account_id) & (Participant.id == Run.participant_id),
        )
        .where(*where)
    )


async def page(
    session: AsyncSession,
    account_id: int,
    filters: RunFilter,
    *,
    now: datetime,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    where = filters.criteria(account_id)
    total = await session.scalar(select(func.count()).select_from(Run).where(*where))
    # The page's ids first: the per-run columns (index, score, stuck) are then computed for
    # the rows shown, not for every row an offset skips.
    shown = select(Run.id).where(*where).order_by(Run.id.desc()).limit(limit).offset(offset)
    rows = await session.execute(
        _select(now, [Run.account_id == account_id, Run.id.in_(shown.scalar_subquery())]).order_by(
            Run.id.desc()
        )
    )
    return list(rows.all()), total or 0


async def batch_before(
    session: AsyncSession,
    account_id: int,
    filters: RunFilter,
    before_id: int | None,
    size: int,
    *,
    now: datetime,
) -> list[Row[Any]]:
    """Keyset pagination for exports: stable however many rows arrive meanwhile."""
    where = filters.criteria(account_id)
    if before_id is not None:
        where.append(Run.id < before_id)
    rows = await session.execute(_select(now, where).order_by(Run.id.desc()).limit(size))
    return list(rows.all())


async def one(
    session: AsyncSession, account_id: int, run_id: int, *, now: datetime
) -> Row[Any] | None:
    where = [Run.account_id == account_id, Run.id == run_id]
    return (await session.execute(_select(now, where))).first()


async def latest_of_participants(
    session: AsyncSession, account_id: int, participant_ids: Sequence[int], *, now: datetime
) -> dict[int, Row[Any]]:
    """Each participant's newest run (by participant id), for the students' list."""
    if not participant_ids:
        return {}
    rows = await session.execute(
        _select(now, [Run.account_id == account_id, Run.participant_id.in_(participant_ids)])
        .order_by(Run.participant_id, Run.id.desc())
        .ext(distinct_on(Run.participant_id))
    )
    return {row.participant_id: row for row in rows.all()}


async def stuck_participants(
    session: AsyncSession, account_id: int, participant_ids: Sequence[int], *, now: datetime
) -> set[int]:
    """Those of the participants with a stuck run (not necessarily their newest)."""
    if not participant_ids:
        return set()
    found = await session.scalars(
        select(Run.participant_id)
        .where(
            Run.account_id == account_id,
            Run.participant_id.in_(participant_ids),
            is_stuck(now),
        )
        .distinct()
    )
    return {pid for pid in found if pid is not None}


async def steps_of_versions(
    session: AsyncSession, account_id: int, version_ids: Sequence[int]
) -> dict[int, int]:
    """How many elements each version has (versions are immutable: callers cache this)."""
    rows = await session.execute(
        select(CourseElement.version_id, func.count())
        .where(CourseElement.account_id == account_id, CourseElement.version_id.in_(version_ids))
        .group_by(CourseElement.version_id)
    )
    return {version_id: count for version_id, count in rows.all()}
