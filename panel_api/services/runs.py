"""Runs: a filtered page, every run matching a filter in batches (the CSV export), one run
with its conversation, and stopping a run; each with its progress, score and stuck mark."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from engine.progress import progress_at
from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict
from panel_api.queries import runs as run_queries
from panel_api.queries.runs import RunFilter
from panel_api.schemas.common import Page
from panel_api.schemas.runs import ConversationLine, RunOut, RunProgressOut
from storage import inbox_events
from storage.models import RunStatus
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
    "progress_percent",
    "score",
    "maxscore",
    "stuck",
    "last_activity_at",
    "started_at",
    "finished_at",
    *(f"utm_{k}" for k in _UTM),
)
STEPS_CACHE_SIZE = 4096
_steps: OrderedDict[int, int] = OrderedDict()
"""Elements per course version. Versions never change, so a list of 1,000 runs asks the
database once per version it has not seen yet, and builds no course at all."""


async def list_runs(
    ctx: PanelContext, access: Access, filters: RunFilter, *, limit: int, offset: int
) -> Page[RunOut]:
    """Newest first."""
    async with ctx.db.tenant(access.account_id) as session:
        rows, total = await run_queries.page(
            session, access.account_id, filters, now=ctx.clock(), limit=limit, offset=offset
        )
        items = await outs(session, access.account_id, rows)
    return Page[RunOut](items=items, total=total, limit=limit, offset=offset)


async def export_rows(
    ctx: PanelContext, access: Access, filters: RunFilter
) -> AsyncIterator[list[Any]]:
    """The CSV_COLUMNS of every matching run, one batch (one short transaction) at a time."""
    before: int | None = None
    while True:
        async with ctx.db.tenant(access.account_id) as session:
            batch = await run_queries.batch_before(
                session, access.account_id, filters, before, EXPORT_BATCH, now=ctx.clock()
            )
            runs = await outs(session, access.account_id, batch)
        yield [
            [getattr(run, c) if c in RunOut.model_fields else getattr(row, c) for c in CSV_COLUMNS]
            for row, run in zip(batch, runs, strict=True)
        ]
        if len(batch) < EXPORT_BATCH:
            return
        before = batch[-1].id


async def get_run(ctx: PanelContext, access: Access, run_id: int) -> RunOut:
    async with ctx.db.tenant(access.account_id) as session:
        row = await run_queries.one(session, access.account_id, run_id, now=ctx.clock())
        assert row is not None
        (run,) = await outs(session, access.account_id, [row])
    return run


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
            raise conflict("the run is not active", key="problem.run_not_active")
        await record(session, access, "run.stop", "run", run_id)
        row = await run_queries.one(session, access.account_id, run_id, now=ctx.clock())
        assert row is not None
        (run,) = await outs(session, access.account_id, [row])
    return run


async def outs(session: AsyncSession, account_id: int, rows: Sequence[Row[Any]]) -> list[RunOut]:
    """Rows of queries/runs.py as the API shows them."""
    steps = await steps_of(session, account_id, (row.course_version_id for row in rows))
    return [_out(row, steps[row.course_version_id]) for row in rows]


async def steps_of(
    session: AsyncSession, account_id: int, version_ids: Iterable[int]
) -> dict[int, int]:
    """Elements per version, from the process-wide cache where it has them (read before
    the query's await: another request may evict meanwhile)."""
    wanted = set(version_ids)
    result = {v: _steps[v] for v in wanted if v in _steps}
    missing = wanted - result.keys()
    if missing:
        found = await run_queries.steps_of_versions(session, account_id, list(missing))
        for version_id in missing:
            result[version_id] = found.get(version_id, 0)
    for version_id, count in result.items():
        if count:  # a version not found (none of this account's) is not remembered
            _steps[version_id] = count
            _steps.move_to_end(version_id)
    while len(_steps) > STEPS_CACHE_SIZE:
        _steps.popitem(last=False)
    return result


def progress_out(row: Row[Any], steps_total: int) -> RunProgressOut:
    """Where the run of a queries/runs.py row is, how far along and how well it does."""
    progress = progress_at(
        row.element_index,
        steps_total,
        finished=row.status == RunStatus.COMPLETED.value,
        started=row.current_element is not None,
    )
    return RunProgressOut(
        current_element=row.current_element,
        progress_percent=None if progress is None else progress.percent,
        steps_done=None if progress is None else progress.done,
        steps_total=steps_total,
        score=row.score,
        maxscore=row.maxscore,
        last_activity_at=row.last_activity_at,
        stuck=row.stuck,
    )


def _out(row: Row[Any], steps_total: int) -> RunOut:
    return RunOut(
        **progress_out(row, steps_total).model_dump(),
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
        started_at=row.started_at,
        finished_at=row.finished_at,
        utm={key: getattr(row, f"utm_{key}") for key in _UTM},
    )
