"""Students (the account's Telegram users), searched and paged, and bans (with stopping the
banned user's active runs when asked)."""

from __future__ import annotations

from sqlalchemy import delete

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict, not_found
from panel_api.queries import runs as run_queries
from panel_api.queries import students as student_queries
from panel_api.queries.runs import RunFilter
from panel_api.schemas.common import Page
from panel_api.schemas.runs import (
    AnswerOut,
    BanCreate,
    BanCreated,
    BanOut,
    GradebookRunOut,
    StudentOut,
)
from panel_api.services import runs as runs_service
from storage import inbox_events
from storage.models import Banned, Participant
from storage.repositories import bans, bots


async def list_students(
    ctx: PanelContext, access: Access, *, q: str | None, limit: int, offset: int
) -> Page[StudentOut]:
    """Newest first; `q` is a part of the username or name."""
    now = ctx.clock()
    async with ctx.db.tenant(access.account_id) as session:
        rows, total = await student_queries.page(
            session, access.account_id, q, limit=limit, offset=offset
        )
        ids = [row.participant.id for row in rows]
        latest = await run_queries.latest_of_participants(session, access.account_id, ids, now=now)
        stuck = await run_queries.stuck_participants(session, access.account_id, ids, now=now)
        steps = await runs_service.steps_of(
            session, access.account_id, (run.course_version_id for run in latest.values())
        )
    items = [
        StudentOut(
            telegram_user_id=row.participant.telegram_user_id,
            username=row.participant.username,
            first_name=row.participant.first_name,
            last_name=row.participant.last_name,
            banned=row.banned,
            runs=row.runs,
            created_at=row.participant.created_at,
            latest_run_id=run.id if run else None,
            latest_run=(
                runs_service.progress_out(run, steps[run.course_version_id]) if run else None
            ),
            stuck=row.participant.id in stuck,
        )
        for row in rows
        for run in [latest.get(row.participant.id)]
    ]
    return Page[StudentOut](items=items, total=total, limit=limit, offset=offset)


GRADEBOOK_RUNS = 100


async def gradebook(
    ctx: PanelContext, access: Access, telegram_user_id: int
) -> tuple[Participant | None, list[GradebookRunOut]]:
    """The student (None: never wrote to the account's bots) and their newest runs (up to
    GRADEBOOK_RUNS), each with every answer they gave; not found when they have neither."""
    async with ctx.db.tenant(access.account_id) as session:
        found = await student_queries.participant(session, access.account_id, telegram_user_id)
        rows, _ = await run_queries.page(
            session,
            access.account_id,
            RunFilter(telegram_user_id=telegram_user_id),
            now=ctx.clock(),
            limit=GRADEBOOK_RUNS,
            offset=0,
        )
        if found is None and not rows:
            raise not_found("student")
        runs = await runs_service.outs(session, access.account_id, rows)
        lines = await student_queries.answers_of_runs(
            session, access.account_id, [run.id for run in runs]
        )
    answers: dict[int, list[AnswerOut]] = {}
    for line in lines:
        answers.setdefault(line.run_id, []).append(
            AnswerOut(
                element_id=line.element_id,
                text=line.text,
                score=line.score,
                maxscore=line.maxscore,
                created_at=line.created_at,
            )
        )
    return found, [
        GradebookRunOut(**run.model_dump(), answers=answers.get(run.id, [])) for run in runs
    ]


async def list_bans(ctx: PanelContext, access: Access) -> list[BanOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await bans.list_banned(session, access.account_id)
    return [_ban_out(row) for row in rows]


async def ban_user(ctx: PanelContext, access: Access, body: BanCreate) -> BanCreated:
    async with ctx.db.tenant(access.account_id) as session:
        if (
            body.bot_id is not None
            and await bots.get(session, access.account_id, body.bot_id) is None
        ):
            raise not_found("bot")
        existing = await student_queries.ban_of(
            session, access.account_id, body.telegram_user_id, body.bot_id
        )
        if existing is not None:
            raise conflict(
                "this user is already banned there",
                key="problem.already_banned",
                ban_id=existing.id,
            )
        await bans.ban(
            session,
            access.account_id,
            telegram_user_id=body.telegram_user_id,
            bot_id=body.bot_id,
            reason=body.reason,
        )
        row = await student_queries.ban_of(
            session, access.account_id, body.telegram_user_id, body.bot_id
        )
        assert row is not None
        stopped = 0
        if body.stop_runs:  # applied by the runtime in each run's order, within moments
            stopped = await inbox_events.stop_user_runs(
                session, access.account_id, body.telegram_user_id, body.bot_id
            )
        await record(
            session,
            access,
            "student.ban",
            "ban",
            row.id,
            telegram_user_id=body.telegram_user_id,
            bot_id=body.bot_id,
            stopped_runs=stopped,
        )
    return BanCreated(**_ban_out(row).model_dump(), stopped_runs=stopped)


async def unban_user(ctx: PanelContext, access: Access, ban_id: int) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        await session.execute(
            delete(Banned).where(Banned.account_id == access.account_id, Banned.id == ban_id)
        )
        await record(session, access, "student.unban", "ban", ban_id)


def _ban_out(row: Banned) -> BanOut:
    return BanOut(
        id=row.id,
        telegram_user_id=row.telegram_user_id,
        bot_id=row.bot_id,
        reason=row.reason,
        created_at=row.created_at,
    )
