"""Runs over HTTP: the filter's query parameters, the CSV stream; the rules are in
panel_api/services/runs.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from panel_api.access import Access, AccountRule
from panel_api.deps import MAX_ID, AccountId, Ctx, RunId
from panel_api.permissions import Permission
from panel_api.queries.runs import RunFilter
from panel_api.schemas.common import Page
from panel_api.schemas.runs import ConversationLine, RunOut
from panel_api.services import runs as service
from panel_api.spreadsheet import csv_lines
from storage.models import RunStatus

router = APIRouter(prefix="/accounts/{account_id}/runs", tags=["runs"])
Read = Annotated[Access, Depends(AccountRule(Permission.RUNS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.RUNS_MANAGE))]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def run_filter(
    ctx: Ctx,
    status: Annotated[RunStatus | None, Query()] = None,
    deployment_id: OptionalId = None,
    token_id: OptionalId = None,
    token: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="a token's label or value"),
    ] = None,
    telegram_user_id: OptionalId = None,
    started_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    started_to: Annotated[datetime | None, Query(description="exclusive")] = None,
    finished_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    finished_to: Annotated[datetime | None, Query(description="exclusive")] = None,
    dropped: Annotated[
        bool, Query(description="only runs that ended unfinished (stopped, blocked, ...)")
    ] = False,
    stuck: Annotated[
        bool,
        Query(description="only runs waiting for their student longer than the account allows"),
    ] = False,
) -> RunFilter:
    return RunFilter(
        status=status.value if status else None,
        deployment_id=deployment_id,
        token_id=token_id,
        token=token,
        telegram_user_id=telegram_user_id,
        started_from=_aware(started_from),
        started_to=_aware(started_to),
        finished_from=_aware(finished_from),
        finished_to=_aware(finished_to),
        dropped=dropped,
        stuck_at=ctx.clock() if stuck else None,
    )


def _aware(moment: datetime | None) -> datetime | None:
    """Query datetimes without an offset are UTC, like every timestamp the API returns."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


Filters = Annotated[RunFilter, Depends(run_filter)]


@router.get("", response_model=Page[RunOut], summary="Runs, newest first")
async def list_runs(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    filters: Filters,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[RunOut]:
    return await service.list_runs(ctx, access, filters, limit=limit, offset=offset)


@router.get(
    "/export.csv",
    summary="All runs matching the filters, as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_runs(
    account_id: AccountId, access: Read, ctx: Ctx, filters: Filters
) -> StreamingResponse:
    async def chunks() -> AsyncIterator[str]:
        yield csv_lines([service.CSV_COLUMNS])
        async for rows in service.export_rows(ctx, access, filters):
            yield csv_lines(rows)

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="runs.csv"'},
    )


@router.get("/{run_id}", response_model=RunOut, summary="One run")
async def get_run(account_id: AccountId, run_id: RunId, access: Read, ctx: Ctx) -> RunOut:
    return await service.get_run(ctx, access, run_id)


@router.get(
    "/{run_id}/conversation",
    response_model=list[ConversationLine],
    summary="What the bot said and the student answered, with scores",
)
async def get_conversation(
    account_id: AccountId, run_id: RunId, access: Read, ctx: Ctx
) -> list[ConversationLine]:
    return await service.get_conversation(ctx, access, run_id)


@router.post(
    "/{run_id}/stop",
    response_model=RunOut,
    status_code=202,
    summary="Stop an active run",
    description="The runtime applies the stop in the run's order (within moments): the "
    "run then reads `stopped`, and nothing more of it reaches the student.",
)
async def stop_run(account_id: AccountId, run_id: RunId, access: Manage, ctx: Ctx) -> RunOut:
    return await service.stop_run(ctx, access, run_id)
