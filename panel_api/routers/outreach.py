"""A deployment's reminder rules, and the caller's own notifications about its students;
the rules are in panel_api/services/outreach.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, DeploymentId, ReminderId
from panel_api.permissions import Permission
from panel_api.schemas.outreach import NotificationIn, NotificationOut, ReminderIn, ReminderOut
from panel_api.services import outreach as service

router = APIRouter(prefix="/accounts/{account_id}/deployments/{deployment_id}", tags=["outreach"])
Read = Annotated[Access, Depends(AccountRule(Permission.DEPLOYMENTS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.DEPLOYMENTS_MANAGE))]


@router.get("/reminders", response_model=list[ReminderOut], summary="Reminder rules")
async def list_reminders(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> list[ReminderOut]:
    return await service.list_reminders(ctx, access, deployment_id)


@router.post(
    "/reminders",
    response_model=ReminderOut,
    status_code=201,
    summary="Add a nudge for students who went quiet",
)
async def create_reminder(
    account_id: AccountId, deployment_id: DeploymentId, body: ReminderIn, access: Manage, ctx: Ctx
) -> ReminderOut:
    return await service.create_reminder(ctx, access, deployment_id, body)


@router.get("/reminders/{reminder_id}", response_model=ReminderOut, summary="One reminder rule")
async def get_reminder(
    account_id: AccountId,
    deployment_id: DeploymentId,
    reminder_id: ReminderId,
    access: Read,
    ctx: Ctx,
) -> ReminderOut:
    return await service.get_reminder(ctx, access, deployment_id, reminder_id)


@router.put("/reminders/{reminder_id}", response_model=ReminderOut, summary="Change a reminder")
async def replace_reminder(
    account_id: AccountId,
    deployment_id: DeploymentId,
    reminder_id: ReminderId,
    body: ReminderIn,
    access: Manage,
    ctx: Ctx,
) -> ReminderOut:
    return await service.replace_reminder(ctx, access, deployment_id, reminder_id, body)


@router.delete("/reminders/{reminder_id}", status_code=204, summary="Remove a reminder")
async def delete_reminder(
    account_id: AccountId,
    deployment_id: DeploymentId,
    reminder_id: ReminderId,
    access: Manage,
    ctx: Ctx,
) -> Response:
    await service.delete_reminder(ctx, access, deployment_id, reminder_id)
    return Response(status_code=204)


@router.get(
    "/notifications/me",
    response_model=NotificationOut,
    summary="My notifications about this deployment's students",
)
async def get_my_notifications(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> NotificationOut:
    return await service.my_notification(ctx, access, deployment_id)


@router.put(
    "/notifications/me",
    response_model=NotificationOut,
    summary="Be told in Telegram when students finish, fail a test or get stuck (or daily)",
)
async def set_my_notifications(
    account_id: AccountId,
    deployment_id: DeploymentId,
    body: NotificationIn,
    access: Read,
    ctx: Ctx,
) -> NotificationOut:
    return await service.set_notification(ctx, access, deployment_id, body)


@router.delete("/notifications/me", status_code=204, summary="Stop my notifications")
async def delete_my_notifications(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> Response:
    await service.delete_notification(ctx, access, deployment_id)
    return Response(status_code=204)
