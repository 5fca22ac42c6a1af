"""Runs: a filtered page, every run matching a filter in batches (the CSV export), one run
with its conversation, and stopping a run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Row

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict
from panel_api.queries import runs as run_queries
from panel_api.queries.runs import RunFilter
from panel_api.schemas.common import Page
from panel_api.schemas.runs import ConversationLine, RunOut
from storage import inbox_events
from storage.repositories import conversation

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


async def list_runs(
    ctx: PanelContext, access: Access, filters: RunFilter, *, limit: int, offset: int
) -> Page[RunOut]:
    """Newest first."""
    async with ctx.db.tenant(access.account_id) as session:
        rows, total = await run_queries.page(
            session, access.account_id, filters, limit=limit, offset=offset
        )
    return Page[RunOut](items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


async def export_rows(
    ctx: PanelContext, access: Access, filters: RunFilter
) -> AsyncIterator[list[Any]]:
    """The CSV_COLUMNS of every matching run, one batch (one short transaction) at a time."""
    before: int | None = None
    while True:
        async with ctx.db.tenant(access.account_id) as session:
            batch = await run_queries.batch_before(
                session, access.account_id, filters, before, EXPORT_BATCH
            )
        yield [[getattr(row, c) for c in CSV_COLUMNS] for row in batch]
        if len(batch) < EXPORT_BATCH:
            return
        before = batch[-1].id


async def get_run(ctx: PanelContext, access: Access, run_id: int) -> RunOut:
    async with ctx.db.tenant(access.account_id) as session:
        row = await run_queries.one(session, access.account_id, run_id)
    assert row is not None
    return _out(row)


async def get_conversation(
    ctx: PanelContext, access: Access, run_id: int
) -> list[ConversationLine]:
    """What the bot said and the student answered, with scores."""
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


async def stop_run(ctx: PanelContext, access: Access, run_id: int) -> RunOut:
    """Ask the runtime to stop an active run: it applies the stop in the run's order
    (DESIGN §5, one writer), within moments."""
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
