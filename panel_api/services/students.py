"""Students (the account's Telegram users), searched and paged, and bans (with stopping the
banned user's active runs when asked)."""

from __future__ import annotations

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict, not_found
from panel_api.schemas.common import Page
from panel_api.schemas.runs import BanCreate, BanCreated, BanOut, StudentOut
from storage.models import Banned, Participant, Run
from storage.repositories import bans, bots, runs


async def list_students(
    ctx: PanelContext, access: Access, *, q: str | None, limit: int, offset: int
) -> Page[StudentOut]:
    """Newest first; `q` is a part of the username or name."""
    where = [Participant.account_id == access.account_id]
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(
                Participant.username.ilike(pattern, escape="\\"),
                Participant.first_name.ilike(pattern, escape="\\"),
                Participant.last_name.ilike(pattern, escape="\\"),
            )
        )
    banned = exists().where(
        Banned.account_id == Participant.account_id,
        Banned.telegram_user_id == Participant.telegram_user_id,
    )
    async with ctx.db.tenant(access.account_id) as session:
        total = await session.scalar(select(func.count()).select_from(Participant).where(*where))
        page = (
            await session.execute(
                select(Participant, banned)
                .where(*where)
                .order_by(Participant.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        # Run counts of this page only, in one grouped query (not one per student).
        counts = dict(
            (
                await session.execute(
                    select(Run.participant_id, func.count())
                    .where(
                        Run.account_id == access.account_id,
                        Run.participant_id.in_([p.id for p, _ in page]),
                    )
                    .group_by(Run.participant_id)
                )
            ).all()
        )
    items = [
        StudentOut(
            telegram_user_id=p.telegram_user_id,
            username=p.username,
            first_name=p.first_name,
            last_name=p.last_name,
            banned=is_banned,
            runs=counts.get(p.id, 0),
            created_at=p.created_at,
        )
        for p, is_banned in page
    ]
    return Page[StudentOut](items=items, total=total or 0, limit=limit, offset=offset)


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
        existing = await _find_ban(session, access.account_id, body.telegram_user_id, body.bot_id)
        if existing is not None:
            raise conflict("this user is already banned there", ban_id=existing.id)
        await bans.ban(
            session,
            access.account_id,
            telegram_user_id=body.telegram_user_id,
            bot_id=body.bot_id,
            reason=body.reason,
        )
        row = await _find_ban(session, access.account_id, body.telegram_user_id, body.bot_id)
        assert row is not None
        stopped = 0
        if body.stop_runs:
            active = select(Run.id).where(
                Run.account_id == access.account_id,
                Run.telegram_user_id == body.telegram_user_id,
                Run.is_active,
            )
            if body.bot_id is not None:
                active = active.where(Run.bot_id == body.bot_id)
            for run_id in (await session.scalars(active)).all():
                if await runs.stop(session, access.account_id, run_id, now=ctx.clock()):
                    stopped += 1
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


async def _find_ban(
    session: AsyncSession, account_id: int, user_id: int, bot_id: int | None
) -> Banned | None:
    stmt = select(Banned).where(
        Banned.account_id == account_id,
        Banned.telegram_user_id == user_id,
        Banned.bot_id.is_(None) if bot_id is None else Banned.bot_id == bot_id,
    )
    return (await session.scalars(stmt)).one_or_none()


def _ban_out(row: Banned) -> BanOut:
    return BanOut(
        id=row.id,
        telegram_user_id=row.telegram_user_id,
        bot_id=row.bot_id,
        reason=row.reason,
        created_at=row.created_at,
    )
