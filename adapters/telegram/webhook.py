"""Webhook ingress: `POST /telegram/webhook/<public id>`, checked by the per-bot secret.

The URL names the bot by an opaque id (never its token), and Telegram's
`X-Telegram-Bot-Api-Secret-Token` header must match that bot's secret, compared in constant
time. The update is stored in the inbox before we answer 200, so an acknowledged update can
never be lost; processing happens afterwards in the chat's worker.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request, Response

from adapters.telegram.pool import BotPool

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_router(pool: BotPool) -> APIRouter:
    router = APIRouter(tags=["telegram"])

    @router.post(
        "/telegram/webhook/{public_id}",
        summary="Telegram webhook ingress (called by Telegram, not by people)",
        status_code=200,
    )
    async def receive_update(public_id: str, request: Request) -> Response:
        runtime = pool.by_public_id(public_id)
        if runtime is None or runtime.config.mode != "webhook":
            return Response(status_code=404)
        expected = runtime.config.webhook_secret or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning("bot %s: webhook call with a wrong secret ignored", runtime.config.bot_id)
            return Response(status_code=401)
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        if not await runtime.ingest([raw]):  # not an update: logged there, nothing stored
            return Response(status_code=400)
        return Response(status_code=200)

    return router
