"""Runs: filtered, paginated list, CSV export, one run with its conversation, stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Row

from panel_api.access import Access, AccountRule
from panel_api.audit import record
from panel_api.deps import MAX_ID, AccountId, Ctx, RunId
from panel_api.errors import conflict
from panel_api.permissions import Permission
from panel_api.queries import runs as run_queries
from panel_api.queries.runs import RunFilter
from panel_api.schemas.common import Page
from panel_api.schemas.runs import ConversationLine, RunOut
from panel_api.spreadsheet import csv_lines
from storage import inbox_events
from storage.models import RunStatus
from storage.repositories import conversation

router = APIRouter(prefix="/accounts/{account_id}/runs", tags=["runs"])
Read = Annotated[Access, Depends(AccountRule(Permission.RUNS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.RUNS_MANAGE))]
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Each batch is read and formatted on the event loop between two awaits: 1,000 rows take
# ~20 ms of CPU (5,000 took ~80 ms), so a large export never holds other requests up for long.
EXPORT_BATCH = 1_000
_UTM = ("source", "medium", "campaign", "content", "term")
CSV_COLUMNS = (
    "id",
    "deployment_id",
    "course_version_id",
    "bot_id",
    "chat_id",
    "telegram_user_id",
    "username",
    "first_name",
    "status",
    "token_id",
    "current_element",
    "started_at",
    "finished_at",
    *(f"utm_{k}" for k in _UTM),
)


def run_filter(
    status: Annotated[RunStatus | None, Query()] = None,
    deployment_id: OptionalId = None,
    token_id: OptionalId = None,
    telegram_user_id: OptionalId = None,
    started_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    started_to: Annotated[datetime | None, Query(description="exclusive")] = None,
) -> RunFilter:
    return RunFilter(
        status=status.value if status else None,
        deployment_id=deployment_id,
        token_id=token_id,
        telegram_user_id=telegram_user_id,
        started_from=_aware(started_from),
        started_to=_aware(started_to),
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
    async with ctx.db.tenant(access.account_id) as session:
        rows, total = await run_queries.page(
            session, access.account_id, filters, limit=limit, offset=offset
        )
    return Page[RunOut](items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


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
        yield csv_lines([CSV_COLUMNS])
        before: int | None = None
        while True:
            async with ctx.db.tenant(access.account_id) as session:
                batch = await run_queries.batch_before(
                    session, access.account_id, filters, before, EXPORT_BATCH
                )
            yield csv_lines([getattr(row, c) for c in CSV_COLUMNS] for row in batch)
            if len(batch) < EXPORT_BATCH:
                return
            before = batch[-1].id

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="runs.csv"'},
    )


@router.get("/{run_id}", response_model=RunOut, summary="One run")
async def get_run(account_id: AccountId, run_id: RunId, access: Read, ctx: Ctx) -> RunOut:
    async with ctx.db.tenant(access.account_id) as session:
        row = await run_queries.one(session, access.account_id, run_id)
    assert row is not None
    return _out(row)


@router.get(
    "/{run_id}/conversation",
    response_model=list[ConversationLine],
    summary="What the bot said and the student answered, with scores",
)
async def get_conversation(
    account_id: AccountId, run_id: RunId, access: Read, ctx: Ctx
) -> list[ConversationLine]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await conversation.list_for_run(session, access.account_id, run_id)
    return [
        ConversationLine(
            id=r.id,
            element_id=r.element_id,
            role=r.role,
            text=r.text,
            score=r.score,
            maxscore=r.maxscore,
            created_at=r.created_at,
        )
        for r in rows
    ]


@router.post(
    "/{run_id}/stop",
    response_model=RunOut,
    status_code=202,
    summary="Stop an active run",
    description="The runtime applies the stop in the run's order (within moments): the "
    "run then reads `stopped`, and nothing more of it reaches the student.",
)
async def stop_run(account_id: AccountId, run_id: RunId, access: Manage, ctx: Ctx) -> RunOut:
    async with ctx.db.tenant(access.account_id) as session:
        if not await inbox_events.stop_run(session, access.account_id, run_id):
            raise conflict("the run is not active")
        await record(session, access, "run.stop", "run", run_id)
        row = await run_queries.one(session, access.account_id, run_id)
    assert row is not None
    return _out(row)


def _out(row: Row[Any]) -> RunOut:
    return RunOut(
        id=row.id,
        deployment_id=row.deployment_id,
        course_version_id=row.course_version_id,
        bot_id=row.bot_id,
        chat_id=row.chat_id,
        telegram_user_id=row.telegram_user_id,
        username=row.username,
        first_name=row.first_name,
        status=row.status,
        note=row.note,
        token_id=row.token_id,
        current_element=row.current_element,
        started_at=row.started_at,
        finished_at=row.finished_at,
        utm={key: getattr(row, f"utm_{key}") for key in _UTM},
    )
