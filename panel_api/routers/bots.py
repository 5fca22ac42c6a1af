"""Bots over HTTP; the rules are in panel_api/services/bots.py. Tokens are never returned."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, BotId, Ctx
from panel_api.permissions import Permission
from panel_api.schemas.bots import BotCreate, BotOut, BotTokenRotate, BotUpdate
from panel_api.services import bots as service

router = APIRouter(prefix="/accounts/{account_id}/bots", tags=["bots"])
Read = Annotated[Access, Depends(AccountRule(Permission.BOTS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.BOTS_MANAGE))]


@router.get("", response_model=list[BotOut], summary="Connected bots")
async def list_bots(account_id: AccountId, access: Read, ctx: Ctx) -> list[BotOut]:
    return await service.list_bots(ctx, access)


@router.get("/{bot_id}", response_model=BotOut, summary="One bot")
async def get_bot(account_id: AccountId, bot_id: BotId, access: Read, ctx: Ctx) -> BotOut:
    return await service.get_bot(ctx, access, bot_id)


@router.post(
    "",
    response_model=BotOut,
    status_code=201,
    summary="Connect a bot by its token (422 with Telegram's reason if it is refused)",
)
async def add_bot(account_id: AccountId, body: BotCreate, access: Manage, ctx: Ctx) -> BotOut:
    return await service.add_bot(ctx, access, body)


@router.patch("/{bot_id}", response_model=BotOut, summary="Enable/disable, mode, default")
async def update_bot(
    account_id: AccountId, bot_id: BotId, body: BotUpdate, access: Manage, ctx: Ctx
) -> BotOut:
    return await service.update_bot(ctx, access, bot_id, body)


@router.post(
    "/{bot_id}/token",
    response_model=BotOut,
    summary="Replace the token after /revoke in BotFather (same bot, new token)",
)
async def rotate_token(
    account_id: AccountId, bot_id: BotId, body: BotTokenRotate, access: Manage, ctx: Ctx
) -> BotOut:
    return await service.rotate_token(ctx, access, bot_id, body)
