"""A runner's side of the bot leases (storage/leases.py): which bots it may host now.

The bot pool asks `tick` once per round with the active bots; the keeper renews this
runner's heartbeat and leases, takes free bots up to its share and says which to give back.
The pool stops a bot's runtime before its lease is released, so two runners never poll,
apply or deliver for one bot at the same time.

A runner that cannot renew (its database connection is down, its process stalled) must not
go on hosting bots whose leases may already be someone else's: `expired` turns true a
margin before the earliest moment the lease can expire in the database (the lease is
renewed to the database's `now() + ttl`, which is later than the local clock's reading
taken before the renewal started), and the pool then stops every bot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Collection

from storage import leases
from storage.batch import BatchConnection
from storage.db import Database

log = logging.getLogger(__name__)


def runner_id() -> str:
    """Unique per process start (host, pid and a random part: a restarted process with the
    same pid must not inherit its predecessor's leases)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        *,
        ttl_s: float,
        me: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.me = me or runner_id()
        self._ttl_s = ttl_s
        # Stop hosting this long before the lease can expire at the earliest: time for the
        # bots' runtimes to stop.
        self._margin_s = min(2.0, ttl_s / 3)
        self._monotonic = monotonic
        self._valid_until = float("-inf")
        self._renewed_at = float("-inf")
        self.held: frozenset[int] = frozenset()
        self.joined = False  # a first round committed: this runner counts in the shares
        self.live_runners = 0
        self.target = 0
        self.wake = asyncio.Event()

    @property
    def expired(self) -> bool:
        """No renewal for too long: whatever this runner holds may be someone else's soon."""
        return self._monotonic() >= self._valid_until

    def notified(self, sender: str) -> None:
        """Another runner joined, left or released bots: look again now."""
        if sender != self.me:
            self.wake.set()

    async def tick(self, active: Collection[int]) -> leases.Tick:
        """Renew, drop leases of bots that are gone, acquire up to the share."""
        started = self._monotonic()
        async with self._db.system() as session:
            result = await leases.tick(session, self.me, active, ttl_s=self._ttl_s, acquire=True)
            if not self.joined:
                await leases.notify(session, self.me)  # the others make room for us
        self._renewed(started)
        if result.acquired:
            log.info("runner %s took %d bot(s)", self.me, len(result.acquired))
        self.held = result.held
        self.live_runners = result.live_runners
        self.target = result.target
        self.joined = True
        return result

    async def keep_renewed(self, every_s: float) -> None:
        """Renew between the pool's rounds too: a round that starts many bots on a busy
        machine may take longer than a lease lasts, and the pool must not lose its bots
        for being slow."""
        while True:
            await asyncio.sleep(every_s)
            if not self.joined or not self.held:
                continue
            if self._monotonic() - self._renewed_at < every_s:
                continue  # the pool's round just did
            asked, started = self.held, self._monotonic()
            try:
                async with self._db.system() as session:
                    kept = await leases.renew(session, self.me, asked, ttl_s=self._ttl_s)
            except Exception as exc:
                log.warning("could not renew the bot leases (%s); retrying", exc)
                continue
            self.held = self.held - (asked - kept)  # lost: the pool stops them next round
            self._renewed(started)

    def _renewed(self, started: float) -> None:
        """Every lease held was renewed by a transaction begun at `started` (or later)."""
        self._renewed_at = started
        self._valid_until = max(self._valid_until, started + self._ttl_s - self._margin_s)

    def surplus(self) -> frozenset[int]:
        """Bots above this runner's share, for another runner (the newest first: the oldest
        bots stay where their chats' state is warm)."""
        extra = len(self.held) - self.target
        if extra <= 0:
            return frozenset()
        return frozenset(sorted(self.held)[-extra:])

    async def release(self, bot_ids: Collection[int]) -> None:
        """Hand bots back (their runtimes are stopped already)."""
        async with self._db.system() as session:
            await leases.release(session, self.me, bot_ids)
        self.held = self.held.difference(bot_ids)
        log.info("runner %s released %d bot(s)", self.me, len(bot_ids))

    def forget(self) -> None:
        """The leases are no longer trusted (renewals failed): nothing is held."""
        self.held = frozenset()
        self._valid_until = float("-inf")

    async def leave(self) -> None:
        """Stopping for good (its bots already stopped): hand every lease back at once so the
        other runners take over within a round instead of after the lease's expiry."""
        async with self._db.system() as session:
            await leases.leave(session, self.me)
        self.held = frozenset()
        self.joined = False

    async def fence(self, connection: BatchConnection, bot_ids: Collection[int]) -> set[int]:
        """For the journal's transactions: of `bot_ids`, those this runner still holds."""
        return await leases.held_in(connection, self.me, bot_ids)
