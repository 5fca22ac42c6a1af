"""Analytics of one deployment, computed from runs and their conversation lines.

Definitions (docs/panel.md repeats them for users):
- A run *reached* an element when its conversation has at least one line of that element
  (the engine records a line whenever it shows an element, and for every answer).
- A run's *last element* is the element of its newest conversation line.
- For an element E of the version: `in_progress` = active runs whose last element is E;
  `dropped` = runs that ended stopped/blocked/declined with E as last element; `completed` =
  the other runs that reached E (they went on, or finished the course there).
  So reached = completed + dropped + in_progress.
- Conversion = completed runs / started runs (runs with status completed).
- A test element's score is the newest bot line of that element carrying a maxscore, per run;
  percent = score / maxscore * 100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Conversation,
    ConversationRole,
    CourseElement,
    EnrollmentToken,
    Run,
    RunStatus,
)

ENDED_BADLY = (RunStatus.STOPPED.value, RunStatus.BLOCKED.value, RunStatus.DECLINED.value)
BUCKETS = 10  # score percent buckets of 10 points: 0-10, ..., 90-100


@dataclass(frozen=True)
class FunnelStep:
    position: int
    element_id: str
    type: str
    reached: int
    completed: int
    dropped: int
    in_progress: int


@dataclass(frozen=True)
class Funnel:
    runs: int
    runs_without_lines: int
    steps: list[FunnelStep]


@dataclass(frozen=True)
class Conversion:
    key: str
    token_id: int | None
    started: int
    completed: int

    @property
    def rate(self) -> float | None:
        return round(self.completed / self.started, 4) if self.started else None


@dataclass(frozen=True)
class Cohort:
    day: datetime
    started: int
    completed: int
    active: int
    dropped: int


@dataclass
class ScoreStats:
    element_id: str
    runs: int = 0
    mean_percent: float | None = None
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    by_score: dict[tuple[float, float], int] = field(default_factory=dict)


def _runs_of(
    account_id: int, deployment_id: int, version_id: int | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        Run.account_id == account_id,
        Run.deployment_id == deployment_id,
    ]
    if version_id is not None:
        where.append(Run.course_version_id == version_id)
    return where


async def funnel(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> Funnel:
    where = _runs_of(account_id, deployment_id, version_id)
    joined = Conversation.__table__.join(
        Run.__table__,
        (Run.account_id == Conversation.account_id) & (Run.id == Conversation.run_id),
    )
    reached = dict(
        (
            await session.execute(
                select(Conversation.element_id, func.count(func.distinct(Conversation.run_id)))
                .select_from(joined)
                .where(Conversation.account_id == account_id, *where)
                .group_by(Conversation.element_id)
            )
        ).all()
    )
    last = (
        select(Conversation.run_id, Conversation.element_id, Run.status)
        .select_from(joined)
        .where(Conversation.account_id == account_id, *where)
        .ext(distinct_on(Conversation.run_id))
        .order_by(Conversation.run_id, Conversation.id.desc())
        .subquery()
    )
    ended: dict[str, tuple[int, int]] = {}
    rows = await session.execute(
        select(
            last.c.element_id,
            func.count().filter(last.c.status == RunStatus.ACTIVE.value),
            func.count().filter(last.c.status.in_(ENDED_BADLY)),
        ).group_by(last.c.element_id)
    )
    for element_id, active, dropped in rows.all():
        ended[element_id] = (active, dropped)
    totals = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(
                    ~select(Conversation.id)
                    .where(
                        Conversation.account_id == Run.account_id,
                        Conversation.run_id == Run.id,
                    )
                    .exists()
                ),
            ).where(*where)
        )
    ).one()
    elements = (
        await session.execute(
            select(CourseElement.position, CourseElement.element_id, CourseElement.type)
            .where(CourseElement.account_id == account_id, CourseElement.version_id == version_id)
            .order_by(CourseElement.position)
        )
    ).all()
    steps = []
    for position, element_id, kind in elements:
        count = reached.get(element_id, 0)
        active, dropped = ended.get(element_id, (0, 0))
        steps.append(
            FunnelStep(position, element_id, kind, count, count - active - dropped, dropped, active)
        )
    return Funnel(runs=totals[0], runs_without_lines=totals[1], steps=steps)


async def conversion(
    session: AsyncSession, account_id: int, deployment_id: int
) -> tuple[list[Conversion], list[Conversion]]:
    """(per token, including tokens nobody used and runs without a token; per UTM source)."""
    where = _runs_of(account_id, deployment_id, None)
    completed = func.count().filter(Run.status == RunStatus.COMPLETED.value)
    per_token = dict(
        ((token_id, (started, done)))
        for token_id, started, done in (
            await session.execute(
                select(Run.token_id, func.count(), completed).where(*where).group_by(Run.token_id)
            )
        ).all()
    )
    token_rows = (
        await session.execute(
            select(EnrollmentToken.id, EnrollmentToken.token)
            .where(
                EnrollmentToken.account_id == account_id,
                EnrollmentToken.deployment_id == deployment_id,
            )
            .order_by(EnrollmentToken.id)
        )
    ).all()
    by_token = [
        Conversion(token, token_id, *per_token.get(token_id, (0, 0)))
        for token_id, token in token_rows
    ]
    if None in per_token:
        by_token.append(Conversion("(no token)", None, *per_token[None]))
    source = func.coalesce(Run.utm_source, literal_column("'(none)'"))
    by_source = [
        Conversion(key, None, started, done)
        for key, started, done in (
            await session.execute(
                select(source, func.count(), completed)
                .where(*where)
                .group_by(source)
                .order_by(func.count().desc(), source)
            )
        ).all()
    ]
    return by_token, by_source


async def cohorts(
    session: AsyncSession, account_id: int, deployment_id: int, since: datetime
) -> list[Cohort]:
    """Runs grouped by the UTC day they started, oldest first."""
    day = func.date_trunc("day", Run.started_at, "UTC")
    rows = await session.execute(
        select(
            day,
            func.count(),
            func.count().filter(Run.status == RunStatus.COMPLETED.value),
            func.count().filter(Run.status == RunStatus.ACTIVE.value),
            func.count().filter(Run.status.in_(ENDED_BADLY)),
        )
        .where(*_runs_of(account_id, deployment_id, None), Run.started_at >= since)
        .group_by(day)
        .order_by(day)
    )
    return [Cohort(*row) for row in rows.all()]


async def scores(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> list[ScoreStats]:
    test_ids = list(
        await session.scalars(
            select(CourseElement.element_id)
            .where(
                CourseElement.account_id == account_id,
                CourseElement.version_id == version_id,
                CourseElement.type == "test",
            )
            .order_by(CourseElement.position)
        )
    )
    stats = {element_id: ScoreStats(element_id) for element_id in test_ids}
    if not test_ids:
        return []
    latest = (
        select(Conversation.element_id, Conversation.score, Conversation.maxscore)
        .join(Run, (Run.account_id == Conversation.account_id) & (Run.id == Conversation.run_id))
        .where(
            Conversation.account_id == account_id,
            *_runs_of(account_id, deployment_id, version_id),
            Conversation.element_id.in_(test_ids),
            Conversation.role == ConversationRole.BOT.value,
            Conversation.maxscore.is_not(None),
        )
        .ext(distinct_on(Conversation.run_id, Conversation.element_id))
        .order_by(Conversation.run_id, Conversation.element_id, Conversation.id.desc())
    )
    totals: dict[str, float] = {}
    for element_id, score, maxscore in (await session.execute(latest)).all():
        entry = stats[element_id]
        score = score or 0.0
        entry.runs += 1
        entry.by_score[(score, maxscore)] = entry.by_score.get((score, maxscore), 0) + 1
        percent = score / maxscore * 100 if maxscore > 0 else 0.0
        entry.buckets[max(0, min(int(percent // (100 / BUCKETS)), BUCKETS - 1))] += 1
        totals[element_id] = totals.get(element_id, 0.0) + percent
    for element_id, entry in stats.items():
        if entry.runs:
            entry.mean_percent = round(totals[element_id] / entry.runs, 2)
    return list(stats.values())
