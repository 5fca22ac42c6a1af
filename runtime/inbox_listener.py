"""Wakes a chat as soon as another producer's event lands in its inbox.

Inserting an event NOTIFYs `coursebot_inbox` with `<bot_id>:<chat_id>` (migration 0010),
delivered when the producer commits, from whichever process wrote it: the timer scheduler,
the payments service, the panel. A Telegram update a panel process stored from a webhook
call comes as `<bot_id>:<chat_id>:u` (storage/webhook_inbox.py): the chat reads it in its
order, without the pause an event asks of the chat's delivery. The runtime LISTENs on a
connection of its own and kicks the chat (a bot another runner hosts is not kicked here), whose
worker then reads the row from the inbox. A notification missed while the connection was
down costs only time: the backlog sweep finds every unprocessed row.

The same connection hears `coursebot_lease` (storage/leases.py): a runner joined, left or
released bots, and the bot pool looks at its leases at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from storage.db import Database
from storage.leases import CHANNEL as LEASE_CHANNEL
from storage.webhook_inbox import CHANNEL, UPDATE_MARK

log = logging.getLogger(__name__)

RETRY_S = 1.0


class InboxListener:
    def __init__(
        self,
        db: Database,
        kick: Callable[[int, int], None],
        *,
        kick_update: Callable[[int, int], None] | None = None,
        on_lease: Callable[[str], None] | None = None,
    ) -> None:
        """`kick(bot_id, chat_id)`: the chat has an event in its inbox; `kick_update`: a
        Telegram update (default: `kick`); `on_lease(runner_id)`: another runner changed
        the lease table."""
        self._db = db
        self._kick = kick
        self._kick_update = kick_update or kick
        self._on_lease = on_lease
        self._connection: asyncpg.Connection | None = None
        self._closed = asyncio.Event()

    async def connect(self) -> None:
        """Listen from now on (events written before are the start-up sweep's)."""
        self._closed.clear()
        connection = await self._db.connect_plain()
        connection.add_termination_listener(lambda _: self._closed.set())
        await connection.add_listener(CHANNEL, self._notified)
        if self._on_lease is not None:
            await connection.add_listener(LEASE_CHANNEL, self._lease_notified)
        self._connection = connection

    async def run(self) -> None:
        """Keep listening: reconnect whenever the connection is lost."""
        try:
            while True:
                if self._connection is None or self._connection.is_closed():
                    try:
                        await self.connect()
                    except Exception as exc:
                        log.warning("cannot LISTEN for inbox events (%s); retrying", exc)
                        await asyncio.sleep(RETRY_S)
                        continue
                await self._closed.wait()
                log.warning("the inbox events connection closed; reconnecting")
                await asyncio.sleep(RETRY_S)
        finally:
            if self._connection is not None:
                self._connection.terminate()
                self._connection = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        bot_id, _, rest = str(payload).partition(":")
        chat_id, _, kind = rest.partition(":")
        kick = self._kick_update if kind == UPDATE_MARK else self._kick
        try:
            kick(int(bot_id), int(chat_id))
        except ValueError:
            log.warning("ignored an inbox notification %r", payload)

    def _lease_notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if self._on_lease is not None:
            self._on_lease(str(payload))
