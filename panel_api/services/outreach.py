"""Reminder rules of a deployment, and each member's own notification settings for it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.audit import record
from panel_api.auth.principal import ApiKeyPrincipal
from panel_api.context import PanelContext
from panel_api.errors import not_found, unprocessable
from panel_api.schemas.outreach import (
    NotificationIn,
    NotificationOut,
    QuietHoursOut,
    ReminderIn,
    ReminderOut,
    clock_minutes,
    clock_text,
)
from storage import reminders
from storage.models import MemberNotification, ReminderRule, Run
from storage.reminders import RunNudges
from storage.repositories import bots, deployments, members, outreach
from storage.run_activity import waits_for_a_timer


def reminder_out(row: ReminderRule) -> ReminderOut:
    quiet = (
        QuietHoursOut(start=clock_text(row.quiet_start), end=clock_text(row.quiet_end))
        if row.quiet_start is not None and row.quiet_end is not None
        else None
    )
    return ReminderOut(
        id=row.id,
        deployment_id=row.deployment_id,
        after_minutes=row.after_minutes,
        max_count=row.max_count,
        text=row.text,
        quiet_hours=quiet,
        created_at=row.created_at,
    )


def _fields(body: ReminderIn) -> dict[str, object]:
    quiet = body.quiet_hours
    return {
        "after_minutes": body.after_minutes,
        "max_count": body.max_count,
        "text": body.text,
        "quiet_start": clock_minutes(quiet.start) if quiet else None,
        "quiet_end": clock_minutes(quiet.end) if quiet else None,
    }


async def list_reminders(
    ctx: PanelContext, access: Access, deployment_id: int
) -> list[ReminderOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await outreach.list_rules(session, access.account_id, deployment_id)
        return [reminder_out(row) for row in rows]


async def create_reminder(
    ctx: PanelContext, access: Access, deployment_id: int, body: ReminderIn
) -> ReminderOut:
    async with ctx.db.tenant(access.account_id) as session:
        row = await outreach.add_rule(session, access.account_id, deployment_id, **_fields(body))
        await record(
            session, access, "reminder.create", "reminder", row.id, deployment_id=deployment_id
        )
        return reminder_out(row)


async def get_reminder(
    ctx: PanelContext, access: Access, deployment_id: int, reminder_id: int
) -> ReminderOut:
    async with ctx.db.tenant(access.account_id) as session:
        return reminder_out(await _rule(session, access, deployment_id, reminder_id))


async def replace_reminder(
    ctx: PanelContext, access: Access, deployment_id: int, reminder_id: int, body: ReminderIn
) -> ReminderOut:
    """Runs keep the nudges they were sent: a changed rule goes on counting from there."""
    async with ctx.db.tenant(access.account_id) as session:
        row = await _rule(session, access, deployment_id, reminder_id)
        for key, value in _fields(body).items():
            setattr(row, key, value)
        await session.flush()
        await record(session, access, "reminder.update", "reminder", row.id)
        return reminder_out(row)


async def delete_reminder(
    ctx: PanelContext, access: Access, deployment_id: int, reminder_id: int
) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        await _rule(session, access, deployment_id, reminder_id)
        await outreach.delete_rule(session, access.account_id, reminder_id)
        await record(session, access, "reminder.delete", "reminder", reminder_id)


async def _rule(
    session: AsyncSession, access: Access, deployment_id: int, reminder_id: int
) -> ReminderRule:
    row = await outreach.get_rule(session, access.account_id, deployment_id, reminder_id)
    if row is None:
        raise not_found("reminder")
    return row


# ---- the member's own notifications --------------------------------------------------------


def member_of(access: Access) -> int:
    """Whose settings these are: the signed-in member, or the member who made the API key."""
    principal = access.principal
    if isinstance(principal, ApiKeyPrincipal):
        return principal.made_by
    return principal.telegram_user_id


async def set_notification(
    ctx: PanelContext, access: Access, deployment_id: int, body: NotificationIn
) -> NotificationOut:
    user_id = member_of(access)
    async with ctx.db.tenant(access.account_id) as session:
        if await members.get(session, access.account_id, user_id) is None:
            raise unprocessable(
                "only members of this account can get notifications; add yourself as a member",
                key="problem.notifications_members_only",
            )
        row = await outreach.set_notification(
            session,
            access.account_id,
            deployment_id,
            user_id,
            on_finish=body.on_finish,
            on_fail=body.on_fail,
            fail_below=body.fail_below,
            on_stuck=body.on_stuck,
            digest_hour=body.digest_hour,
        )
        await record(session, access, "notification.set", "deployment", deployment_id)
        return await notification_out(session, row)


async def my_notification(ctx: PanelContext, access: Access, deployment_id: int) -> NotificationOut:
    """The caller's settings; all off (`active` false) when they never opted in."""
    async with ctx.db.tenant(access.account_id) as session:
        user_id = member_of(access)
        row = await outreach.get_notification(session, access.account_id, deployment_id, user_id)
        if row is None:
            row = MemberNotification(
                account_id=access.account_id,
                deployment_id=deployment_id,
                telegram_user_id=user_id,
                on_finish=False,
                on_fail=False,
                on_stuck=False,
            )
            return await notification_out(session, row, active=False)
        return await notification_out(session, row)


async def delete_notification(ctx: PanelContext, access: Access, deployment_id: int) -> None:
    """Turn the caller's notifications off (nothing to do when they were off)."""
    async with ctx.db.tenant(access.account_id) as session:
        if await outreach.delete_notification(
            session, access.account_id, deployment_id, member_of(access)
        ):
            await record(session, access, "notification.delete", "deployment", deployment_id)


async def notification_out(
    session: AsyncSession, row: MemberNotification, *, active: bool = True
) -> NotificationOut:
    deployment = await deployments.get(session, row.account_id, row.deployment_id)
    assert deployment is not None
    bot = await bots.get(session, row.account_id, deployment.bot_id)
    assert bot is not None
    return NotificationOut(
        active=active,
        deployment_id=row.deployment_id,
        telegram_user_id=row.telegram_user_id,
        on_finish=row.on_finish,
        on_fail=row.on_fail,
        fail_below=row.fail_below,
        on_stuck=row.on_stuck,
        digest_hour=row.digest_hour,
        refused=row.refused_at is not None,
        bot_username=bot.username,
    )


async def run_reminders(ctx: PanelContext, access: Access, run_id: int) -> list[RunNudges]:
    """The deployment's rules as they stand for the run: nudges sent for its current
    silence, and when the next one is due (in the account's time zone's quiet hours rules)."""
    async with ctx.db.tenant(access.account_id) as session:
        run = await session.scalar(
            select(Run).where(Run.account_id == access.account_id, Run.id == run_id)
        )
        if run is None:
            raise not_found("run")
        waits_for_timer = await session.scalar(
            select(waits_for_a_timer()).where(Run.account_id == run.account_id, Run.id == run.id)
        )
        return await reminders.run_nudges(
            session,
            access.account_id,
            run.deployment_id,
            run.id,
            last_step=run.updated_at,
            waits_for_student=run.is_active and not waits_for_timer,
            zone=access.account.time_zone,
        )
