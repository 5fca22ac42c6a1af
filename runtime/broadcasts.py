"""Broadcasts in the runtime: materialise audiences, and feed each hosted bot its share.

The feeder runs in every runner, for the bots that runner hosts. Each round it

- materialises a few batches of recipients of due broadcasts (storage/broadcasts.py: a
  batch of runs per short transaction, SKIP LOCKED between runners);
- tops up each bot's broadcast messages on their way to `window` (about two seconds of the
  bot's 30 msg/s): recipients become `broadcast` events in their chats' inboxes, handed to
  the chats here and now (`hand`: no NOTIFY, no read of the inbox again), which the
  journal turns into outbox rows, which delivery sends in the sender's bulk lane, behind
  course traffic. Handing out no more than a bot can send keeps the inbox, the outbox and
  the sender short whatever the audience's size, so a cancel takes effect within the
  window and course replies never queue behind a hundred thousand messages;
- marks broadcasts done once nothing of theirs waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from runtime.hosted_bot import HostedBot
from runtime.journal_items import Arrival
from storage import broadcasts
from storage.db import Database

log = logging.getLogger(__name__)

WINDOW = 60  # broadcast messages on their way per bot: ~2 s of Telegram's 30 msg/s
MATERIALIZE_PER_ROUND = 5  # batches of runs read per round (MATERIALIZE_BATCH each)


class BroadcastFeeder:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        hosted: Callable[[], Sequence[HostedBot]],
        hand: Callable[[int, int, Arrival], None],
        *,
        interval_s: float = 0.25,
        window: int = WINDOW,
    ) -> None:
        """`hosted()`: the bots this process runs now (only theirs are fed here);
        `hand(bot_id, chat_id, arrival)`: give a chat an event just written for it."""
        self._db = db
        self._clock = clock
        self._hosted = hosted
        self._hand = hand
        self._interval_s = interval_s
        self._window = window

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broadcast feeder failed; retrying")
            await asyncio.sleep(self._interval_s)

    async def round(self) -> int:
        """One round (see the module's docstring); how many recipients were posted."""
        bots = self._hosted()
        if not bots:
            return 0
        bot_ids = sorted(b.bot_id for b in bots)
        accounts = sorted({b.account_id for b in bots})
        for _ in range(MATERIALIZE_PER_ROUND):
            if not await self._materialize(bot_ids, accounts):
                break
        async with self._db.system() as session:
            await broadcasts.name_accounts(session, accounts)
            now = self._clock()
            posted = await broadcasts.feed(session, bot_ids, now, window=self._window)
            await broadcasts.finish_done(session, bot_ids, now)
        for event in posted:  # committed: the chats may take them now
            arrival = Arrival(event.inbox_id, event.update_id, None, event.event)
            self._hand(event.bot_id, event.chat_id, arrival)
        return len(posted)

    async def _materialize(self, bot_ids: list[int], accounts: list[int]) -> bool:
        """One batch of one due broadcast; False when none needed it."""
        async with self._db.system() as session:
            await broadcasts.name_accounts(session, accounts)
            now = self._clock()
            broadcast = await broadcasts.claim_to_materialize(session, bot_ids, now)
            if broadcast is None:
                return False
            await broadcasts.materialize_batch(session, broadcast, now)
        return True
