"""The bot pool: keeps one `BotRuntime` per active bot row, in step with the database.

The panel only writes rows; a short reconcile loop (default every second) notices a bot
added, disabled, switched to webhook or given a new token, and starts, stops or restarts
that bot alone, so no change ever needs a process restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from adapters.telegram.bot_runtime import BotConfig, BotRuntime
from storage import system
from storage.crypto import SecretBox
from storage.db import Database
from storage.models import Bot
from storage.repositories.bots import reveal_token, reveal_webhook_secret

log = logging.getLogger(__name__)


def bot_config(bot: Bot, box: SecretBox) -> BotConfig:
    secret = reveal_webhook_secret(bot, box)
    return BotConfig(
        bot_id=bot.id,
        account_id=bot.account_id,
        username=bot.username,
        token=reveal_token(bot, box).reveal(),
        mode=bot.mode,
        public_id=bot.public_id,
        webhook_secret=secret.reveal() if secret is not None else None,
        default_deployment_id=bot.default_deployment_id,
    )


class BotPool:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        factory: Callable[[BotConfig], BotRuntime],
        *,
        interval_s: float = 1.0,
    ) -> None:
        self._db = db
        self._box = box
        self._factory = factory
        self._interval_s = interval_s
        self._bots: dict[int, BotRuntime] = {}
        # bot id -> (fingerprint that failed to start, monotonic time of the next attempt)
        self._failed: dict[int, tuple[tuple[object, ...], float, float]] = {}

    def get(self, bot_id: int) -> BotRuntime | None:
        return self._bots.get(bot_id)

    def by_public_id(self, public_id: str) -> BotRuntime | None:
        return next((b for b in self._bots.values() if b.config.public_id == public_id), None)

    @property
    def hosted(self) -> list[BotRuntime]:
        return list(self._bots.values())

    def kick(self, bot_id: int, chat_id: int) -> None:
        runtime = self._bots.get(bot_id)
        if runtime is not None:
            runtime.workers.kick(chat_id)

    async def reconcile(self) -> None:
        async with self._db.system() as session:
            rows = await system.active_bots(session)
        wanted: dict[int, BotConfig] = {}
        for row in rows:
            try:
                wanted[row.id] = bot_config(row, self._box)
            except Exception:
                log.exception("bot %s: cannot read its token; not started", row.id)
        for bot_id, runtime in list(self._bots.items()):
            config = wanted.get(bot_id)
            if config is None or config.fingerprint != runtime.config.fingerprint:
                del self._bots[bot_id]
                await runtime.stop()
        for bot_id, config in wanted.items():
            if bot_id in self._bots or self._backing_off(bot_id, config):
                continue
            runtime = self._factory(config)
            try:
                await runtime.start()
            except Exception as exc:
                await runtime.stop()
                delay = self._note_failure(bot_id, config)
                log.warning(
                    "bot %s: failed to start (%s); next try in %.0fs",
                    bot_id,
                    type(exc).__name__,
                    delay,
                )
                continue
            self._failed.pop(bot_id, None)
            self._bots[bot_id] = runtime

    def _backing_off(self, bot_id: int, config: BotConfig) -> bool:
        """A bot that failed to start (e.g. revoked token) is retried with growing pauses,
        or at once when its row changes (a new token)."""
        failed = self._failed.get(bot_id)
        if failed is None or failed[0] != config.fingerprint:
            return False
        return time.monotonic() < failed[1]

    def _note_failure(self, bot_id: int, config: BotConfig) -> float:
        previous = self._failed.get(bot_id)
        delay = 2.0 if previous is None else min(previous[2] * 2, 300.0)
        self._failed[bot_id] = (config.fingerprint, time.monotonic() + delay, delay)
        return delay

    async def run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bot pool reconcile failed")
            await asyncio.sleep(self._interval_s)

    async def stop_all(self) -> None:
        bots, self._bots = list(self._bots.values()), {}
        await asyncio.gather(*(b.stop() for b in bots), return_exceptions=True)
