"""Webhook ingress: `POST /telegram/webhook/<public id>`, checked by the per-bot secret.

The URL names the bot by an opaque id (never its token), and Telegram's
`X-Telegram-Bot-Api-Secret-Token` header must match that bot's secret, compared in constant
time. The update is stored in the inbox before we answer 200, so an acknowledged update can
never be lost; the runner holding the bot's lease is woken and handles it in its chat's
worker (storage/webhook_inbox.py). Any panel process serves this route: it needs no bot
runtime, only the bots' rows, read at most once a second.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import DBAPIError

from adapters.telegram.bot_runtime import LAST_UPDATE_EVERY_S, storable_payload
from adapters.telegram.updates import read_update, translate
from observability.metrics import count_received
from runtime.journal import content_refused
from storage import system, webhook_inbox
from storage.crypto import SecretBox
from storage.db import Database

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REFRESH_S = 1.0  # a bot switched to webhook, or given a new secret, is known within this


@dataclass(frozen=True)
class WebhookBot:
    bot_id: int
    account_id: int
    secret: str


class WebhookDirectory:
    """Active webhook bots by public id, re-read from the database at most every second
    (on demand: an idle panel reads nothing); a secret is decrypted once per sealed value."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._bots: dict[str, WebhookBot] = {}
        self._read_at = -math.inf
        self._opened: dict[str, str] = {}  # sealed secret -> secret

    async def find(self, public_id: str) -> WebhookBot | None:
        if time.monotonic() - self._read_at >= REFRESH_S:
            await self._refresh()
        return self._bots.get(public_id)

    async def _refresh(self) -> None:
        async with self._db.system() as session:
            rows = await system.active_bots_for_pool(session)
        bots: dict[str, WebhookBot] = {}
        opened: dict[str, str] = {}
        for row in rows:
            sealed = row.webhook_secret_ciphertext
            if row.mode != "webhook" or sealed is None:
                continue
            secret = self._opened.get(sealed)
            if secret is None:
                try:
                    secret = self._box.decrypt(sealed).reveal()
                except Exception:
                    log.exception("bot %s: cannot read its webhook secret", row.id)
                    continue
            opened[sealed] = secret
            bots[row.public_id] = WebhookBot(row.id, row.account_id, secret)
        self._bots, self._opened, self._read_at = bots, opened, time.monotonic()


def webhook_router(db: Database, box: SecretBox) -> APIRouter:
    router = APIRouter(tags=["telegram"])
    directory = WebhookDirectory(db, box)
    touched_at: dict[int, float] = {}  # bot id -> when `last_update_at` was last written

    @router.post(
        "/telegram/webhook/{public_id}",
        summary="Telegram webhook ingress (called by Telegram, not by people)",
        status_code=200,
    )
    async def receive_update(public_id: str, request: Request) -> Response:
        bot = await directory.find(public_id)
        if bot is None:
            return Response(status_code=404)
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), bot.secret.encode()):
            log.warning("bot %s: webhook call with a wrong secret ignored", bot.bot_id)
            return Response(status_code=401)
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        update = read_update(raw)
        if update is None:
            log.warning("bot %s: malformed update ignored", bot.bot_id)
            return Response(status_code=400)
        inbound = translate(update)
        now = time.monotonic()
        touch = now - touched_at.get(bot.bot_id, -math.inf) >= LAST_UPDATE_EVERY_S
        try:
            async with db.tenant(bot.account_id) as session:
                stored = await webhook_inbox.store_update(
                    session,
                    account_id=bot.account_id,
                    bot_id=bot.bot_id,
                    update_id=update.update_id,
                    chat_id=inbound.chat_id if inbound is not None else None,
                    payload=storable_payload(raw),
                    touch=touch,
                )
        except DBAPIError as exc:
            if not content_refused(exc):
                raise  # not stored: Telegram is not acknowledged and delivers it again
            log.warning(
                "bot %s: update %s could not be stored; ignored", bot.bot_id, update.update_id
            )
            return Response(status_code=200)
        if touch:
            touched_at[bot.bot_id] = now
        count_received(bot.account_id, int(stored), int(not stored))
        return Response(status_code=200)

    return router
