"""Analytics of a deployment over HTTP; the reports are in panel_api/services/analytics.py.

Funnels and scores are per course version: by default the version the deployment serves
now; `course_version_id` picks an older one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, DeploymentId
from panel_api.permissions import Permission
from panel_api.schemas.analytics import (
    AnswersOut,
    CohortOut,
    ConversionReport,
    FunnelOut,
    ScoresOut,
    TimelineOut,
)
from panel_api.services import analytics as service

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
    return await service.funnel(ctx, access, deployment_id, course_version_id)


@router.get(
    "/conversion",
    response_model=ConversionReport,
    summary="Starts -> completions per token and per UTM source",
)
async def conversion(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> ConversionReport:
    return await service.conversion(ctx, access, deployment_id)


@router.get("/cohorts", response_model=list[CohortOut], summary="Runs by start day")
async def cohorts(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    days: int = Query(30, ge=1, le=366, description="how many days back"),
) -> list[CohortOut]:
    return await service.cohorts(ctx, access, deployment_id, days=days)


@router.get("/scores", response_model=ScoresOut, summary="Score distribution of each test element")
async def scores(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    course_version_id: int | None = VersionQuery,
) -> ScoresOut:
    return await service.scores(ctx, access, deployment_id, course_version_id)


@router.get(
    "/timeline",
    response_model=TimelineOut,
    summary="Runs started, finished and dropped per day (the account's days)",
)
async def timeline(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    days: int = Query(30, ge=1, le=366, description="how many days, today included"),
) -> TimelineOut:
    return await service.timeline(ctx, access, deployment_id, days=days)


@router.get(
    "/answers",
    response_model=AnswersOut,
    summary="Per question: how many students chose each option",
)
async def answers(
    account_id: AccountId,
    deployment_id: DeploymentId,
    access: Read,
    ctx: Ctx,
    course_version_id: int | None = VersionQuery,
) -> AnswersOut:
    return await service.answers(ctx, access, deployment_id, course_version_id)
