"""Broadcasts over HTTP; the rules are in panel_api/services/broadcasts.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, BroadcastId, Ctx
from panel_api.permissions import Permission
from panel_api.schemas.broadcasts import (
    AudienceCount,
    AudienceIn,
    BroadcastCreate,
    BroadcastOut,
    BroadcastTestIn,
    TestSent,
)
from panel_api.services import broadcasts as service

router = APIRouter(prefix="/accounts/{account_id}/broadcasts", tags=["broadcasts"])
Read = Annotated[Access, Depends(AccountRule(Permission.BROADCASTS_READ))]
Send = Annotated[Access, Depends(AccountRule(Permission.BROADCASTS_SEND))]


@router.get("", response_model=list[BroadcastOut], summary="Broadcasts, latest first")
async def list_broadcasts(account_id: AccountId, access: Read, ctx: Ctx) -> list[BroadcastOut]:
    return await service.list_all(ctx, access)


@router.post(
    "",
    response_model=BroadcastOut,
    status_code=202,
    summary="Send (or schedule) a message to an audience; progress at GET .../{id}",
)
async def create_broadcast(
    account_id: AccountId, body: BroadcastCreate, access: Send, ctx: Ctx
) -> BroadcastOut:
    return await service.create(ctx, access, body)


@router.post(
    "/audience", response_model=AudienceCount, summary="How many students an audience reaches"
)
async def count_audience(
    account_id: AccountId, body: AudienceIn, access: Send, ctx: Ctx
) -> AudienceCount:
    return await service.count(ctx, access, body)


@router.post(
    "/test",
    response_model=TestSent,
    status_code=202,
    summary="Send the message to yourself, through the bot that would send it",
)
async def send_test(
    account_id: AccountId, body: BroadcastTestIn, access: Send, ctx: Ctx
) -> TestSent:
    return await service.send_test(ctx, access, body)


@router.get("/{broadcast_id}", response_model=BroadcastOut, summary="One broadcast's progress")
async def get_broadcast(
    account_id: AccountId, broadcast_id: BroadcastId, access: Read, ctx: Ctx
) -> BroadcastOut:
    return await service.get(ctx, access, broadcast_id)


@router.post("/{broadcast_id}/cancel", response_model=BroadcastOut, summary="Stop sending")
async def cancel_broadcast(
    account_id: AccountId, broadcast_id: BroadcastId, access: Send, ctx: Ctx
) -> BroadcastOut:
    return await service.cancel(ctx, access, broadcast_id)
