"""Broadcasts: count an audience, send a test to oneself, schedule, watch and cancel.

The panel only writes the broadcast (what, to whom, when) and, for a test, an event in the
member's own chat inbox; the runtime materialises the recipients and sends through the
journal (runtime/broadcasts.py), so nothing here touches a run or waits for Telegram.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.effects import InlineButton, SendMedia, SendText
from panel_api.access import Access
from panel_api.audit import record
from panel_api.auth.principal import ApiKeyPrincipal
from panel_api.context import PanelContext
from panel_api.errors import conflict, not_found, unprocessable
from panel_api.schemas.broadcasts import (
    AudienceCount,
    AudienceIn,
    BroadcastCreate,
    BroadcastOut,
    BroadcastTestIn,
    MessageIn,
    TestSent,
)
from runtime import effect_codec, resume_button
from storage import broadcasts, inbox_events
from storage.broadcasts import Audience
from storage.inbox_events import BroadcastTest
from storage.models import Bot, Broadcast, BroadcastStatus, CourseDeployment, EnrollmentToken

LIST_LIMIT = 100
# A schedule further out than this is more likely a typo (a year off) than a plan.
MAX_SCHEDULE_DAYS = 366


def message_payload(body: MessageIn, *, bulk: bool) -> dict[str, Any]:
    """What the student gets, as an outbox payload: the one place a broadcast's text and
    buttons become a message (tests and the real thing alike). `bulk`: sent behind course
    traffic. The "continue the course" button is only marked here: the journal puts it in,
    in each student's language (runtime/resume_button.py)."""
    buttons = tuple(InlineButton(b.text, url=b.url) for b in body.buttons)
    effect = (
        SendMedia((body.media_url,), body.text, "HTML", buttons)
        if body.media_url is not None
        else SendText(body.text, "HTML", buttons)
    )
    payload = effect_codec.encode_bulk(effect) if bulk else effect_codec.encode(effect)
    return resume_button.mark(payload) if body.continue_button else payload


async def count(ctx: PanelContext, access: Access, body: AudienceIn) -> AudienceCount:
    async with ctx.db.tenant(access.account_id) as session:
        audience = await _audience(session, access.account_id, body)
        return AudienceCount(
            count=await broadcasts.count_audience(session, access.account_id, audience, ctx.clock())
        )


async def send_test(ctx: PanelContext, access: Access, body: BroadcastTestIn) -> TestSent:
    """The message to the member's own Telegram chat with the bot (they must have started
    it once: Telegram lets no bot write first)."""
    member = _member_telegram_id(access)
    async with ctx.db.tenant(access.account_id) as session:
        bot_id = await _bot_of(session, access.account_id, body.deployment_id, body.bot_id)
        message = message_payload(body, bulk=False)
        await inbox_events.post(session, access.account_id, bot_id, member, BroadcastTest(message))
        await record(session, access, "broadcast.test", "bot", bot_id)
    return TestSent(sent_to=member)


async def create(ctx: PanelContext, access: Access, body: BroadcastCreate) -> BroadcastOut:
    now = ctx.clock()
    send_at = _send_at(body.send_at, now)
    async with ctx.db.tenant(access.account_id) as session:
        audience = await _audience(session, access.account_id, body)
        row = Broadcast(
            account_id=access.account_id,
            bot_id=audience.bot_id,
            deployment_id=audience.deployment_id,
            created_by=_member_telegram_id(access),
            text=body.text,
            message=message_payload(body, bulk=True),
            audience=audience.audience.value,
            filters=audience.filters(),
            send_at=send_at,
        )
        session.add(row)
        await session.flush()
        await record(
            session,
            access,
            "broadcast.create",
            "broadcast",
            row.id,
            audience=row.audience,
            deployment_id=row.deployment_id,
        )
        (out,) = await _out(session, access.account_id, [row.id])
    return out


async def get(ctx: PanelContext, access: Access, broadcast_id: int) -> BroadcastOut:
    async with ctx.db.tenant(access.account_id) as session:
        found = await _out(session, access.account_id, [broadcast_id])
    if not found:
        raise not_found("broadcast")
    return found[0]


async def list_all(ctx: PanelContext, access: Access) -> list[BroadcastOut]:
    """The latest broadcasts first."""
    async with ctx.db.tenant(access.account_id) as session:
        ids = list(
            (
                await session.scalars(
                    select(Broadcast.id)
                    .where(Broadcast.account_id == access.account_id)
                    .order_by(Broadcast.id.desc())
                    .limit(LIST_LIMIT)
                )
            ).all()
        )
        return await _out(session, access.account_id, ids)


async def cancel(ctx: PanelContext, access: Access, broadcast_id: int) -> BroadcastOut:
    """No one else gets it; messages already handed to the bot (a couple of seconds'
    worth) may still arrive."""
    async with ctx.db.tenant(access.account_id) as session:
        if not await broadcasts.cancel(session, access.account_id, broadcast_id, ctx.clock()):
            raise conflict(
                "this broadcast has already finished or been cancelled",
                key="problem.broadcast_over",
            )
        await record(session, access, "broadcast.cancel", "broadcast", broadcast_id)
        (out,) = await _out(session, access.account_id, [broadcast_id])
    return out


# ---- helpers -------------------------------------------------------------------------------


def _member_telegram_id(access: Access) -> int:
    principal = access.principal
    if isinstance(principal, ApiKeyPrincipal):
        return principal.made_by
    return principal.telegram_user_id


def _send_at(requested: datetime | None, now: datetime) -> datetime:
    if requested is None:
        return now
    when = requested if requested.tzinfo is not None else requested.replace(tzinfo=UTC)
    if (when - now).days > MAX_SCHEDULE_DAYS:
        raise unprocessable(
            f"send_at is more than {MAX_SCHEDULE_DAYS} days away",
            key="problem.broadcast_too_far",
            days=MAX_SCHEDULE_DAYS,
        )
    return max(when, now)  # a time just past means "now"


async def _bot_of(
    session: AsyncSession, account_id: int, deployment_id: int | None, bot_id: int | None
) -> int:
    """The bot that sends: the deployment's, or the one named; 404 if not this account's."""
    if deployment_id is not None:
        found = await session.scalar(
            select(CourseDeployment.bot_id).where(
                CourseDeployment.account_id == account_id, CourseDeployment.id == deployment_id
            )
        )
        if found is None:
            raise not_found("deployment")
        return int(found)
    exists = await session.scalar(
        select(Bot.id).where(Bot.account_id == account_id, Bot.id == bot_id)
    )
    if exists is None:
        raise not_found("bot")
    return int(exists)


async def _audience(session: AsyncSession, account_id: int, body: AudienceIn) -> Audience:
    deployment_id = body.deployment_id
    if body.token_id is not None:
        token_deployment = await session.scalar(
            select(EnrollmentToken.deployment_id).where(
                EnrollmentToken.account_id == account_id, EnrollmentToken.id == body.token_id
            )
        )
        if token_deployment is None:
            raise not_found("enrollment token")
        if deployment_id is not None and deployment_id != token_deployment:
            raise unprocessable(
                "token_id is a link of another deployment", key="problem.token_of_other_deployment"
            )
        deployment_id = int(token_deployment)
    bot_id = await _bot_of(session, account_id, deployment_id, body.bot_id)
    return Audience(
        bot_id,
        deployment_id,
        body.audience,
        token_id=body.token_id,
        utm_source=body.utm_source,
        progress_min=body.progress_min,
        progress_max=body.progress_max,
    )


async def _out(session: AsyncSession, account_id: int, ids: list[int]) -> list[BroadcastOut]:
    if not ids:
        return []
    rows = (
        await session.scalars(
            select(Broadcast)
            .where(Broadcast.account_id == account_id, Broadcast.id.in_(ids))
            .order_by(Broadcast.id.desc())
        )
    ).all()
    counts = await broadcasts.progress(session, account_id, [r.id for r in rows])
    out = []
    for row in rows:
        fates = counts[row.id]
        # A cancelled broadcast's recipients not handed out yet will never be sent.
        dropped = fates.queued if row.status == BroadcastStatus.CANCELLED else 0
        fields: dict[str, Any] = {
            "id": row.id,
            "status": row.status,
            "bot_id": row.bot_id,
            "deployment_id": row.deployment_id,
            "audience": row.audience,
            "filters": row.filters,
            "text": row.text,
            "continue_button": resume_button.marked(row.message),
            "send_at": row.send_at,
            "created_at": row.created_at,
            "finished_at": row.finished_at,
            "total": row.total,
            "materialized": row.materialized_at is not None,
            "queued": fates.queued - dropped + fates.posted,
            "sent": fates.sent,
            "failed": fates.failed,
            "blocked": fates.blocked,
            "cancelled": fates.cancelled + dropped,
        }
        out.append(BroadcastOut(**fields))
    return out
