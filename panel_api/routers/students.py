"""Students (the account's Telegram users) and bans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access, AccountRule
from panel_api.audit import record
from panel_api.deps import AccountId, BanId, Ctx
from panel_api.errors import conflict, not_found
from panel_api.permissions import Permission
from panel_api.schemas.common import Page
from panel_api.schemas.runs import BanCreate, BanCreated, BanOut, StudentOut
from storage import inbox_events
from storage.models import Banned, Participant, Run
from storage.repositories import bans, bots

router = APIRouter(prefix="/accounts/{account_id}", tags=["students"])
Read = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_MANAGE))]


@router.get("/students", response_model=Page[StudentOut], summary="Students")
async def list_students(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    q: str | None = Query(None, min_length=1, max_length=64, description="username/name part"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Page[StudentOut]:
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


@router.get("/bans", response_model=list[BanOut], summary="Banned users")
async def list_bans(account_id: AccountId, access: Read, ctx: Ctx) -> list[BanOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await bans.list_banned(session, access.account_id)
    return [_ban_out(row) for row in rows]


@router.post("/bans", response_model=BanCreated, status_code=201, summary="Ban a user")
async def ban_user(account_id: AccountId, body: BanCreate, access: Manage, ctx: Ctx) -> BanCreated:
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


@router.delete("/bans/{ban_id}", status_code=204, summary="Lift a ban")
async def unban_user(account_id: AccountId, ban_id: BanId, access: Manage, ctx: Ctx) -> Response:
    async with ctx.db.tenant(access.account_id) as session:
        await session.execute(
            delete(Banned).where(Banned.account_id == access.account_id, Banned.id == ban_id)
        )
        await record(session, access, "student.unban", "ban", ban_id)
    return Response(status_code=204)


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
