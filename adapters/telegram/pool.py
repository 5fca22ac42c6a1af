"""The bot pool: keeps one `BotRuntime` per active bot row, in step with the database.

The panel only writes rows; a short reconcile loop (default every second) notices a bot
added, disabled, switched to webhook or given a new token, and starts, stops or restarts
that bot alone, so no change ever needs a process restart.

With several runners (DESIGN §8) the pool hosts only the bots whose lease its runner holds
(runtime/leases.py): each round renews the leases, stops the bots lost or given up (before
their leases are released, so no two runners ever host one bot) and starts those acquired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from adapters.telegram.bot_runtime import BotConfig, BotRuntime
from runtime.journal_items import Arrival
from runtime.leases import LeaseKeeper
from storage import system
from storage.crypto import SecretBox
from storage.db import Database
from storage.system import PoolBot

log = logging.getLogger(__name__)

# Bots started at once by a reconcile: starting one is a Bot API call (deleteWebhook or
# setWebhook), and ten thousand of them one after another would take many minutes.
START_CONCURRENCY = 32
# Backlog sweeps per second across all hosted bots: each is a transaction, and the sweep is
# a safety net (new work always comes with a kick), so a big pool sweeps each bot less often.
SWEEPS_PER_SECOND = 20.0
# A bot handed to another runner (or stopped for good) lets its chats finish the round at
# work this long, so the message on its way is recorded rather than sent again by the next
# holder. Short against the lease: the next holder waits for the release.
HANDOVER_GRACE_S = 1.0


def sealed_fingerprint(bot: PoolBot) -> tuple[object, ...]:
    """The row as stored: equal fingerprints mean an equal `BotConfig`, so a reconcile
    decrypts only new or changed rows (decrypting every token every second cost ~10% of a
    core per thousand bots)."""
    return (
        bot.account_id,
        bot.username,
        bot.token_ciphertext,
        bot.mode,
        bot.public_id,
        bot.webhook_secret_ciphertext,
        bot.default_deployment_id,
    )


def bot_config(bot: PoolBot, box: SecretBox) -> BotConfig:
    sealed_secret = bot.webhook_secret_ciphertext
    secret = box.decrypt(sealed_secret) if sealed_secret is not None else None
    return BotConfig(
        bot_id=bot.id,
        account_id=bot.account_id,
        username=bot.username,
        token=box.decrypt(bot.token_ciphertext).reveal(),
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
        leases: LeaseKeeper | None = None,
    ) -> None:
        """Without `leases` the pool hosts every active bot (one runner per database)."""
        self._db = db
        self.leases = leases
        self._box = box
        self._factory = factory
        self._interval_s = interval_s
        self._bots: dict[int, BotRuntime] = {}
        # bot id -> (fingerprint that failed to start, monotonic time of the next attempt)
        self._failed: dict[int, tuple[tuple[object, ...], float, float]] = {}
        # bot id -> (sealed fingerprint of its row, the config decrypted from it)
        self._configs: dict[int, tuple[tuple[object, ...], BotConfig]] = {}

    def get(self, bot_id: int) -> BotRuntime | None:
        return self._bots.get(bot_id)

    def by_public_id(self, public_id: str) -> BotRuntime | None:
        return next((b for b in self._bots.values() if b.config.public_id == public_id), None)

    @property
    def hosted(self) -> list[BotRuntime]:
        return list(self._bots.values())

    def kick_update(self, bot_id: int, chat_id: int) -> None:
        """Another process stored a Telegram update of the chat (a webhook call)."""
        runtime = self._bots.get(bot_id)
        if runtime is not None:
            runtime.kick_update(chat_id)

    def kick_inbox(self, bot_id: int, chat_id: int) -> None:
        """An event was written into the chat's inbox (a timer, a payment, the panel)."""
        runtime = self._bots.get(bot_id)
        if runtime is not None:
            runtime.kick_inbox(chat_id)

    def hand_event(self, bot_id: int, chat_id: int, arrival: Arrival) -> None:
        """An event this process just wrote into the chat's inbox (a broadcast's)."""
        runtime = self._bots.get(bot_id)
        if runtime is not None:
            runtime.take_event(chat_id, arrival)

    async def reconcile(self) -> None:
        async with self._db.system() as session:
            rows = await system.active_bots_for_pool(session)
        wanted: dict[int, BotConfig] = {}
        for row in rows:
            sealed = sealed_fingerprint(row)
            cached = self._configs.get(row.id)
            if cached is not None and cached[0] == sealed:
                wanted[row.id] = cached[1]
                continue
            try:
                wanted[row.id] = bot_config(row, self._box)
            except Exception:
                log.exception("bot %s: cannot read its token; not started", row.id)
                continue
            self._configs[row.id] = (sealed, wanted[row.id])
        for gone in self._configs.keys() - wanted.keys():
            del self._configs[gone]
        surplus: frozenset[int] = frozenset()
        if self.leases is not None:
            # Every active bot counts for the shares, startable or not: a lease is the right
            # to try, and a bot that fails to start is retried by its holder.
            await self.leases.tick([row.id for row in rows])
            surplus = self.leases.surplus()
            hosted = self.leases.held - surplus
            wanted = {bot_id: c for bot_id, c in wanted.items() if bot_id in hosted}
        stops = []
        for bot_id, runtime in list(self._bots.items()):
            config = wanted.get(bot_id)
            if config is None or config.fingerprint != runtime.config.fingerprint:
                del self._bots[bot_id]
                stops.append(runtime.stop(HANDOVER_GRACE_S))
        await asyncio.gather(*stops, return_exceptions=True)
        if surplus and self.leases is not None:
            await self.leases.release(surplus)  # stopped first: never hosted twice
        starts = [
            (bot_id, config)
            for bot_id, config in wanted.items()
            if bot_id not in self._bots and not self._backing_off(bot_id, config)
        ]
        slots = asyncio.Semaphore(START_CONCURRENCY)

        async def start(bot_id: int, config: BotConfig) -> None:
            async with slots:
                await self._start(bot_id, config)

        await asyncio.gather(*(start(bot_id, config) for bot_id, config in starts))

    async def _start(self, bot_id: int, config: BotConfig) -> None:
        runtime = self._factory(config)
        try:
            await runtime.start()
        except asyncio.CancelledError:  # the process stops: no poll may outlive the pool
            await runtime.stop()
            raise
        except Exception as exc:
            await runtime.stop()
            delay = self._note_failure(bot_id, config)
            log.warning(
                "bot %s: failed to start (%s); next try in %.0fs",
                bot_id,
                type(exc).__name__,
                delay,
            )
            return
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
            await self._fence_lost()
            await self._next_round()

    async def _next_round(self) -> None:
        """Sleep a round, or less when another runner joined, left or released bots."""
        if self.leases is None:
            await asyncio.sleep(self._interval_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.leases.wake.wait(), self._interval_s)
        self.leases.wake.clear()

    async def _fence_lost(self) -> None:
        """Leases not renewed in time may be another runner's soon: stop every bot now."""
        if self.leases is None or not self.leases.expired or not self._bots:
            return
        log.warning("bot leases could not be renewed in time; stopping every bot")
        self.leases.forget()
        await self.stop_all(grace_s=0.0)  # no time left: the leases may lapse any moment

    async def sweep(self, interval_s: float) -> None:
        """Sweep every hosted bot's backlog, each at most every `interval_s`, spread evenly
        over the round and never more than SWEEPS_PER_SECOND together (a bot sweeps once on
        its own when it starts, so the first round waits its turn)."""
        while True:
            bots = list(self._bots.values())
            round_s = max(interval_s, len(bots) / SWEEPS_PER_SECOND, 0.01)
            if not bots:
                await asyncio.sleep(round_s)
                continue
            started = time.monotonic()
            for index, bot in enumerate(bots, start=1):
                slot = started + index * round_s / len(bots)
                await asyncio.sleep(max(0.0, slot - time.monotonic()))
                if self._bots.get(bot.config.bot_id) is bot:  # not stopped meanwhile
                    await bot.sweep_once()

    async def stop_all(self, grace_s: float = HANDOVER_GRACE_S) -> None:
        bots, self._bots = list(self._bots.values()), {}
        await asyncio.gather(*(b.stop(grace_s) for b in bots), return_exceptions=True)
