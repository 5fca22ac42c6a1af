"""Bots: connect by token (checked with getMe), enable/disable, rotate the token, polling or
webhook, default deployment. Only rows change here; the runtime notices within seconds and
reconciles Telegram (setWebhook / deleteWebhook with the bot's secret). Tokens never leave."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from botapi.token_check import BotIdentity, BotTokenRejected, TelegramUnavailable, check_bot_token
from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import ApiError, conflict, not_found, unprocessable
from panel_api.schemas.bots import BotCreate, BotOut, BotTokenRotate, BotUpdate
from panel_api.services.plan_limits import require_room
from storage.crypto import Secret
from storage.models import Bot, BotMode
from storage.repositories import bots, deployments


async def list_bots(ctx: PanelContext, access: Access) -> list[BotOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await bots.list_all(session, access.account_id)
    return [_out(row) for row in rows]


async def get_bot(ctx: PanelContext, access: Access, bot_id: int) -> BotOut:
    async with ctx.db.tenant(access.account_id) as session:
        bot = await bots.get(session, access.account_id, bot_id)
    assert bot is not None
    return _out(bot)


async def add_bot(ctx: PanelContext, access: Access, body: BotCreate) -> BotOut:
    token = Secret(body.token)
    _check_webhook_possible(body.mode, ctx)
    identity = await _get_me(token, ctx)
    try:
        async with ctx.db.tenant(access.account_id) as session:
            await require_room(session, access.account_id, "max_bots")
            bot = await bots.create(
                session,
                access.account_id,
                token=token,
                box=ctx.box,
                telegram_id=identity.telegram_id,
                username=identity.username,
                mode=body.mode,
            )
            await record(session, access, "bot.add", "bot", bot.id, username=bot.username)
    except IntegrityError:
        # token_hash and telegram_id are unique platform-wide: whoever holds the token
        # may know that this bot is already connected, and nothing else.
        raise conflict(
            f"@{identity.username} is already connected to this platform",
            key="problem.bot_connected",
            bot=identity.username,
        ) from None
    return _out(bot)


async def update_bot(ctx: PanelContext, access: Access, bot_id: int, body: BotUpdate) -> BotOut:
    if body.mode is not None:
        _check_webhook_possible(body.mode, ctx)
    if body.clear_default_deployment and body.default_deployment_id is not None:
        raise unprocessable(
            "give default_deployment_id or clear_default_deployment, not both",
            key="problem.default_deployment_both",
        )
    async with ctx.db.tenant(access.account_id) as session:
        bot = await bots.get(session, access.account_id, bot_id)
        assert bot is not None
        changes: dict[str, Any] = {}
        if body.active is not None and body.active != bot.active:
            if body.active:
                await require_room(session, access.account_id, "max_bots")
            changes["active"] = body.active
        if body.mode is not None:
            changes["mode"] = body.mode
        if body.default_deployment_id is not None:
            deployment = await deployments.get(
                session, access.account_id, body.default_deployment_id
            )
            if deployment is None:
                raise not_found("deployment")
            if deployment.bot_id != bot.id:
                raise unprocessable(
                    "default_deployment_id must be a deployment of this bot",
                    key="problem.default_deployment_other_bot",
                )
            changes["default_deployment_id"] = deployment.id
        if body.clear_default_deployment:
            changes["default_deployment_id"] = None
        bot = await bots.update_bot(session, access.account_id, bot_id, **changes)
        assert bot is not None
        if changes:
            await record(session, access, "bot.update", "bot", bot_id, **_loggable(changes))
    return _out(bot)


async def rotate_token(
    ctx: PanelContext, access: Access, bot_id: int, body: BotTokenRotate
) -> BotOut:
    token = Secret(body.token)
    identity = await _get_me(token, ctx)
    try:
        async with ctx.db.tenant(access.account_id) as session:
            bot = await bots.get(session, access.account_id, bot_id)
            assert bot is not None
            if identity.telegram_id != bot.telegram_id:
                raise unprocessable(
                    f"this token belongs to @{identity.username}, not to @{bot.username}",
                    key="problem.token_other_bot",
                    token_bot=identity.username,
                    bot=bot.username,
                )
            bot = await bots.replace_token(
                session, access.account_id, bot_id, token=token, box=ctx.box
            )
            assert bot is not None
            await record(session, access, "bot.rotate_token", "bot", bot_id)
    except IntegrityError:
        raise conflict("this token is already in use", key="problem.bot_token_used") from None
    return _out(bot)


async def _get_me(token: Secret, ctx: PanelContext) -> BotIdentity:
    try:
        return await check_bot_token(token, ctx.settings.telegram_api_base)
    except BotTokenRejected as exc:
        raise unprocessable(exc.reason, key=f"problem.bot_token_{exc.kind}") from None
    except TelegramUnavailable as exc:
        raise ApiError(502, str(exc), key="problem.telegram_unavailable") from None


def _check_webhook_possible(mode: BotMode, ctx: PanelContext) -> None:
    if mode is BotMode.WEBHOOK and not (ctx.settings.public_base_url or "").startswith("https://"):
        raise unprocessable(
            "webhook mode needs the server's public https address, which is not set; "
            "use polling mode",
            key="problem.webhook_needs_https",
        )


def _loggable(changes: dict[str, object]) -> dict[str, object]:
    return {k: (v.value if isinstance(v, BotMode) else v) for k, v in changes.items()}


def _out(bot: Bot) -> BotOut:
    return BotOut(
        id=bot.id,
        telegram_id=bot.telegram_id,
        username=bot.username,
        mode=bot.mode,
        active=bot.active,
        default_deployment_id=bot.default_deployment_id,
        last_update_at=bot.last_update_at,
        created_at=bot.created_at,
    )
