"""Analytics of a deployment: funnel, conversion by token and UTM source, cohorts, scores.

Funnels and scores are per course version (elements differ between versions): by default the
version the deployment serves now; `course_version_id` picks an older one.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.context import PanelContext
from panel_api.errors import not_found, unprocessable
from panel_api.queries import analytics
from panel_api.schemas.analytics import (
    AnswersOut,
    CohortOut,
    ConversionOut,
    ConversionReport,
    DayOut,
    FunnelOut,
    FunnelStepOut,
    OptionCountOut,
    QuestionBreakdownOut,
    ScoreDistributionOut,
    ScorePointOut,
    ScoresOut,
    TimelineOut,
)
from panel_api.schemas.deployments import DeploymentOut
from storage.repositories import courses, deployments


async def funnel(
    ctx: PanelContext, access: Access, deployment_id: int, course_version_id: int | None
) -> FunnelOut:
    """Reached/completed/dropped per element, its queries one after another."""
    async with ctx.db.tenant(access.account_id) as session:
        version_id = await _version(session, access, deployment_id, course_version_id)
        result = await analytics.funnel(session, access.account_id, deployment_id, version_id)
    return FunnelOut(
        deployment_id=deployment_id,
        course_version_id=version_id,
        runs=result.runs,
        runs_without_lines=result.runs_without_lines,
        steps=_steps_out(result.steps),
    )


async def funnel_concurrently(
    ctx: PanelContext,
    access: Access,
    deployment: DeploymentOut,
    version_id: int | None,
    *,
    limit: int | None = None,
) -> tuple[FunnelOut, int]:
    """The same funnel with its first `limit` steps (all when None), and how many elements
    the version has; its scans run side by side: a page has a 300 ms budget with 10k runs.
    `version_id` (None: the deployed version) is already known to be of this course."""
    version = version_id or deployment.course_version_id
    result = await analytics.funnel_concurrently(ctx.db, access.account_id, deployment.id, version)
    out = FunnelOut(
        deployment_id=deployment.id,
        course_version_id=version,
        runs=result.runs,
        runs_without_lines=result.runs_without_lines,
        steps=_steps_out(result.steps)[:limit],
    )
    return out, len(result.steps)


async def conversion(ctx: PanelContext, access: Access, deployment_id: int) -> ConversionReport:
    """Starts -> completions per token and per UTM source."""
    async with ctx.db.tenant(access.account_id) as session:
        by_token, by_source = await analytics.conversion(session, access.account_id, deployment_id)
    return ConversionReport(
        deployment_id=deployment_id,
        by_token=[_conversion(c) for c in by_token],
        by_utm_source=[_conversion(c) for c in by_source],
    )


async def cohorts(
    ctx: PanelContext, access: Access, deployment_id: int, *, days: int
) -> list[CohortOut]:
    """Runs by start day (the account's days), `days` back."""
    since = ctx.clock() - timedelta(days=days)
    zone = ZoneInfo(access.account.time_zone)
    async with ctx.db.tenant(access.account_id) as session:
        rows = await analytics.cohorts(
            session, access.account_id, deployment_id, since, access.account.time_zone
        )
    return [CohortOut(**{**row.__dict__, "day": row.day.astimezone(zone)}) for row in rows]


async def scores(
    ctx: PanelContext, access: Access, deployment_id: int, course_version_id: int | None
) -> ScoresOut:
    """Score distribution of each test element."""
    async with ctx.db.tenant(access.account_id) as session:
        version_id = await _version(session, access, deployment_id, course_version_id)
        stats = await analytics.scores(session, access.account_id, deployment_id, version_id)
    return ScoresOut(
        deployment_id=deployment_id,
        course_version_id=version_id,
        tests=[
            ScoreDistributionOut(
                element_id=s.element_id,
                runs=s.runs,
                mean_percent=s.mean_percent,
                buckets=s.buckets,
                by_score=[
                    ScorePointOut(score=score, maxscore=maxscore, runs=count)
                    for (score, maxscore), count in sorted(s.by_score.items())
                ],
            )
            for s in stats
        ],
    )


def _steps_out(steps: list[analytics.FunnelStep]) -> list[FunnelStepOut]:
    """The steps with the drop-off from each one to the next."""
    out = []
    previous: int | None = None
    for step in steps:
        lost = None if previous is None else max(previous - step.reached, 0)
        out.append(
            FunnelStepOut(
                **step.__dict__,
                lost=lost,
                lost_percent=round(100 * lost / previous, 1)
                if lost is not None and previous
                else None,
            )
        )
        previous = step.reached
    return out


async def timeline(
    ctx: PanelContext, access: Access, deployment_id: int, *, days: int
) -> TimelineOut:
    """Starts, finishes and drop-outs per day of the account's zone, the last `days` days."""
    zone = access.account.time_zone
    today = ctx.clock().astimezone(ZoneInfo(zone)).date()
    async with ctx.db.tenant(access.account_id) as session:
        rows = await analytics.timeline(
            session,
            access.account_id,
            deployment_id,
            since=today - timedelta(days=days - 1),
            last_day=today,
            zone=zone,
        )
    return TimelineOut(
        deployment_id=deployment_id,
        time_zone=zone,
        days=[DayOut(**row.__dict__) for row in rows],
    )


async def answers(
    ctx: PanelContext, access: Access, deployment_id: int, course_version_id: int | None
) -> AnswersOut:
    """Which option how many students chose, per question."""
    async with ctx.db.tenant(access.account_id) as session:
        version_id = await _version(session, access, deployment_id, course_version_id)
        found = await analytics.answer_breakdown(
            session, access.account_id, deployment_id, version_id
        )
    questions = []
    for q in found:
        others = sorted(
            ((text, runs) for text, runs in q.counts.items() if text not in q.options),
            key=lambda item: (-item[1], item[0]),
        )
        questions.append(
            QuestionBreakdownOut(
                element_id=q.element_id,
                type=q.type,
                runs=sum(q.counts.values()),
                answers=[
                    *(
                        OptionCountOut(answer=o, runs=q.counts.get(o, 0), option=True)
                        for o in dict.fromkeys(q.options)
                    ),
                    *(
                        OptionCountOut(answer=text, runs=runs, option=False)
                        for text, runs in others
                    ),
                ],
            )
        )
    return AnswersOut(
        deployment_id=deployment_id, course_version_id=version_id, questions=questions
    )


async def _version(
    session: AsyncSession, access: Access, deployment_id: int, requested: int | None
) -> int:
    deployment = await deployments.get(session, access.account_id, deployment_id)
    assert deployment is not None
    if requested is None:
        return deployment.course_version_id
    version = await courses.get_version(session, access.account_id, requested)
    if version is None:
        raise not_found("course version")
    current = await courses.get_version(session, access.account_id, deployment.course_version_id)
    if current is None or version.course_id != current.course_id:
        raise unprocessable(
            "course_version_id must be a version of the deployed course",
            key="problem.version_of_other_course",
        )
    return version.id


def _conversion(item: analytics.Conversion) -> ConversionOut:
    return ConversionOut(
        key=item.key,
        token_id=item.token_id,
        label=item.label,
        started=item.started,
        completed=item.completed,
        rate=item.rate,
    )
