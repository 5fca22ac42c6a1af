"""The database lane: a chat's oldest unprocessed inbox row, read from the inbox.

The fast lane hands the journal updates it still has in memory; this lane reads what the
inbox holds that memory does not: work left by a crash or by another runner, updates past
a flooding chat's cap, an update whose claim failed because an older one waited, and the
events other producers wrote (timers, payments, panel actions: storage/inbox_events.py). Either
way the journal handles it (runtime/journal.py), so there is one way to handle an
update, and the journal's claim keeps each chat in Telegram's order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.telegram.updates import read_update, translate
from runtime.hosted_bot import HostedBot
from runtime.journal_items import Arrival, OutboxRow
from runtime.run_position import RunPosition
from storage import inbox_events
from storage.db import Database
from storage.models import InboxKind
from storage.repositories import inbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """One processed update; `callback_query_id` still needs answering (button spinner)."""

    update_id: int
    callback_query_id: str | None = None
    position: RunPosition | None = None
    more: bool = True  # another update of the chat may be waiting
    # The chat's unsent messages as of the commit (what this update queued, and anything
    # older): delivery starts from these instead of reading them again.
    pending: Sequence[OutboxRow] = field(default_factory=list)


class InboxReader:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def oldest(self, bot: HostedBot, chat_id: int) -> tuple[Arrival, bool] | None:
        """The chat's oldest unprocessed inbox row and whether another one waits after it."""
        async with self._db.tenant(bot.account_id) as session:
            rows = await inbox.oldest_for_chat(
                session, bot.account_id, bot.bot_id, chat_id, limit=2
            )
        if not rows:
            return None
        row = rows[0]
        if row.kind != InboxKind.TELEGRAM:
            event = inbox_events.decode(row.kind, row.payload)
            return Arrival(row.id, row.update_id, None, event), len(rows) > 1
        update = read_update(row.payload)
        if update is None:
            log.warning("bot %s: stored update %s does not parse", bot.bot_id, row.update_id)
        inbound = translate(update) if update is not None else None
        return Arrival(row.id, row.update_id, inbound), len(rows) > 1
