"""Analytics of a deployment: funnel per element (SVG bars), conversion by token and UTM
source, cohorts by start day, test scores; each table also as CSV."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Request, Response

from panel_api import spreadsheet
from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.permissions import Permission
from panel_api.services import analytics as analytics_service
from panel_api.services import deployments as deployments_service
from panel_api.web import charts, lookups
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import page_router, rule, see_other

router = page_router()
Read = Annotated[Access, rule(Permission.ANALYTICS_READ)]
REPORTS = ("funnel", "tokens", "utm", "cohorts", "scores", "timeline", "answers")
DEFAULT_DAYS = 30
MAX_FUNNEL_ROWS = 300
"""The page's chart and table stop here (a 30,000-element course made an 11 MB page that
took the event loop over a second to render); the CSV has every element."""


def _int_param(request: Request, name: str, low: int, high: int) -> int | None:
    raw = request.query_params.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and low <= int(raw) <= high else None


@router.get("/accounts/{account_id}/analytics")
async def analytics_index(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    """Analytics are per deployment: with one deployment go straight there."""
    items = await deployments_service.list_deployments(ctx, access)
    if len(items) == 1:
        return see_other(f"/accounts/{access.account_id}/deployments/{items[0].id}/analytics")
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
    return await render(
        request, "analytics_index.html", access=access, deployments=items, titles=titles
    )


@router.get("/accounts/{account_id}/deployments/{deployment_id}/analytics")
async def analytics_page(
    request: Request, account_id: int, deployment_id: int, access: Read, ctx: Ctx
) -> Response:
    t = await page_translator(request, access)
    deployment = await deployments_service.get_deployment(ctx, access, deployment_id)
    days = _int_param(request, "days", 1, 366) or DEFAULT_DAYS
    async with ctx.db.tenant(access.account_id) as session:
        versions = await lookups.versions_of(session, access.account_id, deployment.course_id)
        titles = await lookups.course_titles(session, access.account_id)
    version_id = _int_param(request, "version", 1, 2**63 - 1)
    errors: list[str] = []
    if version_id is not None and version_id not in {vid for vid, _ in versions}:
        errors.append(t("analytics.bad_version"))
        version_id = None
    # Independent reports on pooled connections: the page costs the slowest one.
    (funnel, elements), conversion, cohorts, scores, timeline, answers = await asyncio.gather(
        analytics_service.funnel_concurrently(
            ctx, access, deployment, version_id, limit=MAX_FUNNEL_ROWS
        ),
        analytics_service.conversion(ctx, access, deployment_id),
        analytics_service.cohorts(ctx, access, deployment_id, days=days),
        analytics_service.scores(ctx, access, deployment_id, version_id),
        analytics_service.timeline(ctx, access, deployment_id, days=days),
        analytics_service.answers(ctx, access, deployment_id, version_id),
    )
    return await render(
        request,
        "analytics.html",
        access=access,
        status_code=422 if errors else 200,
        errors=errors,
        deployment=deployment,
        course_title=titles.get(deployment.course_id, ""),
        versions=versions,
        funnel=funnel,
        funnel_elements=elements,
        chart=charts.funnel(funnel.steps, funnel.runs),
        timeline=timeline,
        timeline_chart=charts.timeline(timeline.days),
        answers=answers,
        answer_chart=charts.answers,
        conversion=conversion,
        cohorts=cohorts,
        cohort_max=max([c.started for c in cohorts], default=0),
        share=charts.share,
        scores=scores,
        days=days,
        reports=REPORTS,
    )


@router.get("/accounts/{account_id}/deployments/{deployment_id}/analytics.csv")
async def analytics_csv(
    request: Request, account_id: int, deployment_id: int, access: Read, ctx: Ctx
) -> Response:
    report = request.query_params.get("report", "funnel")
    if report not in REPORTS:
        report = "funnel"
    version_id = _int_param(request, "version", 1, 2**63 - 1)
    days = _int_param(request, "days", 1, 366) or DEFAULT_DAYS
    a, d = access.account_id, deployment_id
    if report == "funnel":
        deployment = await deployments_service.get_deployment(ctx, access, d)
        async with ctx.db.tenant(a) as session:
            versions = await lookups.versions_of(session, a, deployment.course_id)
        if version_id not in {vid for vid, _ in versions}:
            version_id = None
        funnel, _ = await analytics_service.funnel_concurrently(ctx, access, deployment, version_id)
        text = spreadsheet.to_csv(
            (
                "position",
                "element_id",
                "type",
                "reached",
                "completed",
                "in_progress",
                "dropped",
                "lost_from_previous",
            ),
            (
                (
                    s.position,
                    s.element_id,
                    s.type,
                    s.reached,
                    s.completed,
                    s.in_progress,
                    s.dropped,
                    "" if s.lost is None else s.lost,
                )
                for s in funnel.steps
            ),
        )
    elif report == "timeline":
        timeline = await analytics_service.timeline(ctx, access, d, days=days)
        text = spreadsheet.to_csv(
            ("day", "started", "finished", "dropped"),
            ((x.day.isoformat(), x.started, x.finished, x.dropped) for x in timeline.days),
        )
    elif report == "answers":
        found = await analytics_service.answers(ctx, access, d, version_id)
        text = spreadsheet.to_csv(
            ("element_id", "answer", "runs", "is_option"),
            (
                (q.element_id, a.answer, a.runs, "yes" if a.option else "no")
                for q in found.questions
                for a in q.answers
            ),
        )
    elif report in ("tokens", "utm"):
        conversion = await analytics_service.conversion(ctx, access, d)
        items = conversion.by_token if report == "tokens" else conversion.by_utm_source
        text = spreadsheet.to_csv(
            ("token" if report == "tokens" else "utm_source", "started", "completed", "rate"),
            ((c.key, c.started, c.completed, "" if c.rate is None else c.rate) for c in items),
        )
    elif report == "cohorts":
        cohorts = await analytics_service.cohorts(ctx, access, d, days=days)
        text = spreadsheet.to_csv(
            ("day", "started", "completed", "active", "dropped"),
            (
                (c.day.date().isoformat(), c.started, c.completed, c.active, c.dropped)
                for c in cohorts
            ),
        )
    else:
        scores = await analytics_service.scores(ctx, access, d, version_id)
        text = spreadsheet.to_csv(
            (
                "element_id",
                "runs",
                "mean_percent",
                *(f"{i * 10}-{i * 10 + 10}%" for i in range(10)),
            ),
            ((s.element_id, s.runs, s.mean_percent, *s.buckets) for s in scores.tests),
        )
    filename = f"deployment-{deployment_id}-{report}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
