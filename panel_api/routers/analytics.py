"""Analytics of a deployment: funnel, conversion by token and UTM source, cohorts, scores.

Funnels and scores are per course version (elements differ between versions): by default the
version the deployment serves now; `course_version_id` picks an older one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, DeploymentId
from panel_api.errors import not_found, unprocessable
from panel_api.permissions import Permission
from panel_api.queries import analytics
from panel_api.schemas.analytics import (
    CohortOut,
    ConversionOut,
    ConversionReport,
    FunnelOut,
    FunnelStepOut,
    ScoreDistributionOut,
    ScorePointOut,
    ScoresOut,
)
from storage.repositories import courses, deployments

router = APIRouter(
    prefix="/accounts/{account_id}/deployments/{deployment_id}/analytics", tags=["analytics"]
)
Read = Annotated[Access, Depends(AccountRule(Permission.ANALYTICS_READ))]
VersionQuery = Query(None, ge=1, le=2**63 - 1, description="default: the deployed version")


@router.get("/funnel", response_model=FunnelOut, summary="Reached/completed/dropped per element")
async def funnel(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    course_version_id: int | None = VersionQuery,
) -> FunnelOut:
    async with ctx.db.tenant(access.account_id) as session:
        version_id = await _version(session, access, deployment_id, course_version_id)
        result = await analytics.funnel(session, access.account_id, deployment_id, version_id)
    return FunnelOut(
        deployment_id=deployment_id,
        course_version_id=version_id,
        runs=result.runs,
        runs_without_lines=result.runs_without_lines,
        steps=[FunnelStepOut(**step.__dict__) for step in result.steps],
    )


@router.get(
    "/conversion",
    response_model=ConversionReport,
    summary="Starts -> completions per token and per UTM source",
)
async def conversion(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> ConversionReport:
    async with ctx.db.tenant(access.account_id) as session:
        by_token, by_source = await analytics.conversion(session, access.account_id, deployment_id)
    return ConversionReport(
        deployment_id=deployment_id,
        by_token=[_conversion(c) for c in by_token],
        by_utm_source=[_conversion(c) for c in by_source],
    )


@router.get("/cohorts", response_model=list[CohortOut], summary="Runs by start day")
async def cohorts(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    days: int = Query(30, ge=1, le=366, description="how many days back"),
) -> list[CohortOut]:
    since = ctx.clock() - timedelta(days=days)
    async with ctx.db.tenant(access.account_id) as session:
        rows = await analytics.cohorts(session, access.account_id, deployment_id, since)
    return [CohortOut(**row.__dict__) for row in rows]


@router.get("/scores", response_model=ScoresOut, summary="Score distribution of each test element")
async def scores(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    course_version_id: int | None = VersionQuery,
) -> ScoresOut:
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
        raise unprocessable("course_version_id must be a version of the deployed course")
    return version.id


def _conversion(item: analytics.Conversion) -> ConversionOut:
    return ConversionOut(
        key=item.key,
        token_id=item.token_id,
        started=item.started,
        completed=item.completed,
        rate=item.rate,
    )
