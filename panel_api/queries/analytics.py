"""Analytics of one deployment, computed from runs and their conversation lines.

Definitions (docs/panel.md repeats them for users):
- A run *reached* an element when its conversation has at least one line of that element
  (the engine records a line whenever it shows an element, and for every answer).
- A run's *last element* is the element of its newest conversation line.
- For an element E of the version: `in_progress` = active runs whose last element is E;
  `dropped` = runs that ended stopped/blocked/declined/halted with E as last element;
  `completed` = the other runs that reached E (they went on, or finished the course there).
  So reached = completed + dropped + in_progress.
- Conversion = completed runs / started runs (runs with status completed).
- A test element's score is the newest bot line of that element carrying a maxscore, per run;
  percent = score / maxscore * 100.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.queries.runs import ENDED_BADLY
from storage.db import Database
from storage.models import (
    CourseElement,
    EnrollmentToken,
    Run,
    RunStatus,
)

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
    label: str | None = None

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


# Two lean passes instead of one query that aggregates every (run, element) pair twice: a
# run's last element comes from one backward index probe per run (conversation is indexed
# on (run_id, id)), and "reached" is a single DISTINCT over the (run, element) pairs. With
# 10k runs and ~72k lines this keeps the funnel well under the panel's 300 ms page budget.
_LAST_ELEMENT_SQL = text(
    """
SELECT last.element_id,
       count(*) FILTER (WHERE r.status = 'active') AS in_progress,
       count(*) FILTER (WHERE r.status IN :ended_badly) AS dropped,
       count(*) AS runs
FROM run r
CROSS JOIN LATERAL (
    SELECT c.element_id FROM conversation c
    WHERE c.account_id = r.account_id AND c.run_id = r.id
    ORDER BY c.id DESC
    LIMIT 1
) last
WHERE r.account_id = :account_id
  AND r.deployment_id = :deployment_id AND r.course_version_id = :version_id
GROUP BY last.element_id
"""
).bindparams(bindparam("ended_badly", expanding=True))

_REACHED_SQL = text(
    """
SELECT pair.element_id, count(*) AS reached
FROM (
    SELECT DISTINCT c.run_id, c.element_id
    FROM conversation c
    JOIN run r ON r.account_id = c.account_id AND r.id = c.run_id
    WHERE c.account_id = :account_id AND r.account_id = :account_id
      AND r.deployment_id = :deployment_id AND r.course_version_id = :version_id
) pair
GROUP BY pair.element_id
"""
)


async def funnel(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> Funnel:
    """The funnel of one version, its queries one after another in `session`."""
    return _assemble(
        *[await part(session, account_id, deployment_id, version_id) for part in _FUNNEL_PARTS]
    )


async def funnel_concurrently(
    db: Database, account_id: int, deployment_id: int, version_id: int
) -> Funnel:
    """The same funnel with its parts on separate pooled connections at once: for pages with
    a time budget, which then wait for the slowest scan instead of the sum of them."""

    async def run(part: _FunnelPart) -> Any:
        async with db.tenant(account_id) as session:
            return await part(session, account_id, deployment_id, version_id)

    return _assemble(*await asyncio.gather(*(run(part) for part in _FUNNEL_PARTS)))


async def _reached(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> dict[str, int]:
    params = {"account_id": account_id, "deployment_id": deployment_id, "version_id": version_id}
    rows = await session.execute(_REACHED_SQL, params)
    return {element_id: reached for element_id, reached in rows.all()}


async def _last_elements(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> list[tuple[str, int, int, int]]:
    """(element, in progress, dropped, runs) per element that is some run's last one."""
    rows = await session.execute(
        _LAST_ELEMENT_SQL,
        {
            "account_id": account_id,
            "deployment_id": deployment_id,
            "version_id": version_id,
            "ended_badly": list(ENDED_BADLY),
        },
    )
    return [(element_id, a, b, c) for element_id, a, b, c in rows.all()]


async def _runs_total(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> int:
    total = await session.scalar(
        select(func.count()).where(*_runs_of(account_id, deployment_id, version_id))
    )
    return total or 0


async def _elements(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> list[tuple[int, str, str]]:
    rows = await session.execute(
        select(CourseElement.position, CourseElement.element_id, CourseElement.type)
        .where(CourseElement.account_id == account_id, CourseElement.version_id == version_id)
        .order_by(CourseElement.position)
    )
    return [(position, element_id, kind) for position, element_id, kind in rows.all()]


_FunnelPart = Callable[[AsyncSession, int, int, int], Awaitable[Any]]
_FUNNEL_PARTS: tuple[_FunnelPart, ...] = (_reached, _last_elements, _runs_total, _elements)


def _assemble(
    reached_by: dict[str, int],
    last_elements: list[tuple[str, int, int, int]],
    total: int,
    elements: list[tuple[int, str, str]],
) -> Funnel:
    counts: dict[str, tuple[int, int, int]] = {}
    with_lines = 0
    for element_id, in_progress, dropped, runs in last_elements:
        counts[element_id] = (reached_by.get(element_id, 0), in_progress, dropped)
        with_lines += runs
    for element_id, reached in reached_by.items():
        counts.setdefault(element_id, (reached, 0, 0))
    steps = []
    for position, element_id, kind in elements:
        reached, in_progress, dropped = counts.get(element_id, (0, 0, 0))
        steps.append(
            FunnelStep(
                position,
                element_id,
                kind,
                reached,
                reached - in_progress - dropped,
                dropped,
                in_progress,
            )
        )
    return Funnel(runs=total, runs_without_lines=total - with_lines, steps=steps)


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
            select(EnrollmentToken.id, EnrollmentToken.token, EnrollmentToken.label)
            .where(
                EnrollmentToken.account_id == account_id,
                EnrollmentToken.deployment_id == deployment_id,
            )
            .order_by(EnrollmentToken.id)
        )
    ).all()
    by_token = [
        Conversion(token, token_id, *per_token.get(token_id, (0, 0)), label=label)
        for token_id, token, label in token_rows
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
    session: AsyncSession, account_id: int, deployment_id: int, since: datetime, zone: str
) -> list[Cohort]:
    """Runs grouped by the day of `zone` they started (its midnight), oldest first."""
    day = func.date_trunc("day", Run.started_at, zone)
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
    if not test_ids:
        return []
    stats = {element_id: ScoreStats(element_id) for element_id in test_ids}
    rows = await session.execute(
        _SCORES_SQL,
        {
            "account_id": account_id,
            "deployment_id": deployment_id,
            "version_id": version_id,
            "element_ids": test_ids,
        },
    )
    totals: dict[str, float] = {}
    for element_id, score, maxscore, runs in rows.all():
        entry = stats[element_id]
        score = score or 0.0
        entry.runs += runs
        entry.by_score[(score, maxscore)] = runs
        percent = score / maxscore * 100 if maxscore > 0 else 0.0
        bucket = max(0, min(int(percent // (100 / BUCKETS)), BUCKETS - 1))
        entry.buckets[bucket] += runs
        totals[element_id] = totals.get(element_id, 0.0) + percent * runs
    for element_id, entry in stats.items():
        if entry.runs:
            entry.mean_percent = round(totals[element_id] / entry.runs, 2)
    return list(stats.values())


# The newest scored bot line of each test element per run, counted per (score, maxscore).
_SCORES_SQL = text(
    """
WITH latest AS (
    SELECT max(c.id) AS id
    FROM conversation c
    JOIN run r ON r.account_id = c.account_id AND r.id = c.run_id
    WHERE c.account_id = :account_id AND r.account_id = :account_id
      AND r.deployment_id = :deployment_id AND r.course_version_id = :version_id
      AND c.element_id IN :element_ids AND c.role = 'bot' AND c.maxscore IS NOT NULL
    GROUP BY c.run_id, c.element_id
)
SELECT c.element_id, c.score, c.maxscore, count(*)
FROM conversation c JOIN latest l ON l.id = c.id
WHERE c.account_id = :account_id
GROUP BY c.element_id, c.score, c.maxscore
ORDER BY c.element_id, c.score, c.maxscore
"""
).bindparams(bindparam("element_ids", expanding=True))


QUESTION_TYPES = ("quiz", "question", "multi_choice")
"""Elements that offer options; their answers are counted per option."""


@dataclass
class Breakdown:
    element_id: str
    type: str
    options: list[str]
    counts: dict[str, int] = field(default_factory=dict)


async def answer_breakdown(
    session: AsyncSession, account_id: int, deployment_id: int, version_id: int
) -> list[Breakdown]:
    """Per question of the version, in course order: how many runs' latest answer was each
    option (the options first, in the course's order, then anything else answered)."""
    rows = await session.execute(
        select(CourseElement.element_id, CourseElement.type, CourseElement.data)
        .where(
            CourseElement.account_id == account_id,
            CourseElement.version_id == version_id,
            CourseElement.type.in_(QUESTION_TYPES),
        )
        .order_by(CourseElement.position)
    )
    found = {
        element_id: Breakdown(element_id, kind, _option_texts(data))
        for element_id, kind, data in rows.all()
    }
    if not found:
        return []
    counted = await session.execute(
        _ANSWERS_SQL,
        {
            "account_id": account_id,
            "deployment_id": deployment_id,
            "version_id": version_id,
            "element_ids": list(found),
        },
    )
    for element_id, answer, runs in counted.all():
        found[element_id].counts[answer] = runs
    return list(found.values())


def _option_texts(data: Any) -> list[str]:
    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, list):
        return []
    texts = [a.get("text") if isinstance(a, dict) else a for a in answers]
    return [str(text) for text in texts if text is not None]


# Each run's latest answer to each question, counted per answer text.
_ANSWERS_SQL = text(
    """
SELECT latest.element_id, latest.text, count(*)
FROM (
    SELECT DISTINCT ON (c.run_id, c.element_id) c.element_id, c.text
    FROM conversation c
    JOIN run r ON r.account_id = c.account_id AND r.id = c.run_id
    WHERE c.account_id = :account_id AND r.account_id = :account_id
      AND r.deployment_id = :deployment_id AND r.course_version_id = :version_id
      AND c.role = 'user' AND c.element_id IN :element_ids
    ORDER BY c.run_id, c.element_id, c.id DESC
) latest
GROUP BY latest.element_id, latest.text
"""
).bindparams(bindparam("element_ids", expanding=True))


@dataclass(frozen=True)
class Day:
    day: date
    started: int
    finished: int
    dropped: int


async def timeline(
    session: AsyncSession,
    account_id: int,
    deployment_id: int,
    *,
    since: date,
    last_day: date,
    zone: str,
) -> list[Day]:
    """Runs started, finished and dropped on each day of `zone` from `since` to `last_day`,
    every day present (zeros included) so the trend reads at a glance."""
    rows = await session.execute(
        _TIMELINE_SQL,
        {
            "account_id": account_id,
            "deployment_id": deployment_id,
            "since": since,
            "last_day": last_day,
            "zone": zone,
            "ended_badly": list(ENDED_BADLY),
        },
    )
    return [Day(*row) for row in rows.all()]


_TIMELINE_SQL = text(
    """
WITH bounds AS (
    SELECT CAST(:since AS date) AS first_day, CAST(:last_day AS date) AS last_day
), events AS (
    SELECT (r.started_at AT TIME ZONE :zone)::date AS day, 1 AS started, 0 AS finished,
           0 AS dropped
    FROM run r, bounds
    WHERE r.account_id = :account_id AND r.deployment_id = :deployment_id
      AND r.started_at >= (bounds.first_day::timestamp AT TIME ZONE :zone)
    UNION ALL
    SELECT (r.finished_at AT TIME ZONE :zone)::date, 0,
           (r.status = 'completed')::int, (r.status IN :ended_badly)::int
    FROM run r, bounds
    WHERE r.account_id = :account_id AND r.deployment_id = :deployment_id
      AND r.finished_at >= (bounds.first_day::timestamp AT TIME ZONE :zone)
)
SELECT d.day::date, coalesce(sum(e.started), 0)::int, coalesce(sum(e.finished), 0)::int,
       coalesce(sum(e.dropped), 0)::int
FROM bounds, generate_series(bounds.first_day, bounds.last_day, interval '1 day') AS d(day)
LEFT JOIN events e ON e.day = d.day::date
GROUP BY d.day
ORDER BY d.day
"""
).bindparams(bindparam("ended_badly", expanding=True))
