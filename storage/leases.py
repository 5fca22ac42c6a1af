"""Bot leases in PostgreSQL: which runner hosts which bot (DESIGN §8).

A bot's lease row names its holder until `expires_at`. The holder renews it every few
seconds; a lease past its expiry (its runner died or hung) is anyone's. All times are the
database's (`now()`), so runners on machines with different clocks agree on who holds what.

Each runner also keeps a heartbeat row in `runner`: the live runners' count gives each its
even share of the bots, ceil(bots / runners), so a runner that joins takes a share (the
others release their surplus) and one that leaves gives its share back.

The journal's transactions check the lease too (`held_in`, FOR KEY SHARE): the old holder
can apply nothing for a bot once it has lost the lease, whatever its memory says, and a
takeover (which locks the row FOR UPDATE first) waits for a batch of the old holder that is
still committing. A renewal only moves `expires_at` (FOR NO KEY UPDATE), which does not
conflict with the fence: renewals and batches never wait for each other. Every statement
here locks lease rows in bot id order, and a journal transaction fences its bots in one
statement (runtime/journal_batch.py), so those that do conflict can wait for each other but
never deadlock. Before, a renewal locked the rows FOR UPDATE in
scan order while a batch fenced twice, and PostgreSQL aborted a renewal every few seconds
under a broadcast (benchmarks.broadcast, 2026-12-07).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.batch import BatchConnection
from storage.db import name_accounts

# Woken on commit whenever a runner joins, leaves or releases leases: the others look again
# at once instead of at their next tick (the payload is the sender's runner id).
CHANNEL = "coursebot_lease"

_HEARTBEAT = text("""
INSERT INTO runner (id, expires_at) VALUES (:me, now() + make_interval(secs => :ttl))
ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
""")
# Dead runners' rows stay a minute past their expiry (for an operator's eyes), then go.
_FORGET_DEAD = text("DELETE FROM runner WHERE expires_at < now() - interval '1 minute'")
_LIVE_RUNNERS = text("SELECT count(*) FROM runner WHERE expires_at > now()")
# Renewed even when it expired meanwhile: nobody took it, so nobody else ran the bot. Only
# `expires_at` changes (no key column), so the rows' locks are FOR NO KEY UPDATE, which the
# journal's fence (FOR KEY SHARE) does not conflict with; taken in bot id order like every
# lock here, as a takeover may reach for an expired one of them at the same time.
_RENEW = text("""
WITH mine AS (
    SELECT bot_id FROM bot_lease WHERE holder = :me AND bot_id = ANY(:active)
    ORDER BY bot_id FOR NO KEY UPDATE
)
UPDATE bot_lease l SET expires_at = now() + make_interval(secs => :ttl)
FROM mine WHERE l.bot_id = mine.bot_id AND l.holder = :me
RETURNING l.bot_id
""")
_DROP_GONE = text("""
WITH gone AS (
    SELECT bot_id FROM bot_lease WHERE holder = :me AND NOT (bot_id = ANY(:active))
    ORDER BY bot_id FOR UPDATE
)
DELETE FROM bot_lease l USING gone WHERE l.bot_id = gone.bot_id AND l.holder = :me
""")
# Free bots (no lease, or an expired one), in random order so that runners acquiring at the
# same time rarely reach for the same rows. An expired lease is locked FOR UPDATE before it
# changes hands: that waits for a batch of the old holder still committing (its fence holds
# the row FOR KEY SHARE, which an update of `holder` alone would not wait for), and the
# expiry is checked again on the locked row, so of two runners racing for one bot exactly
# one gets it (the conflict clause checks it once more for a row inserted meanwhile).
_ACQUIRE = text("""
WITH free AS (
    SELECT a.bot_id, l.bot_id IS NOT NULL AS leased
    FROM unnest(CAST(:active AS bigint[])) AS a(bot_id)
    LEFT JOIN bot_lease l ON l.bot_id = a.bot_id
    WHERE l.bot_id IS NULL OR l.expires_at < now()
    ORDER BY random()
    LIMIT :need
), expired AS (
    SELECT l.bot_id FROM bot_lease l JOIN free f ON f.bot_id = l.bot_id AND f.leased
    WHERE l.expires_at < now()
    ORDER BY l.bot_id FOR UPDATE
)
INSERT INTO bot_lease (bot_id, holder, expires_at)
SELECT bot_id, :me, now() + make_interval(secs => :ttl) FROM free
WHERE NOT leased OR bot_id IN (SELECT bot_id FROM expired)
ORDER BY bot_id
ON CONFLICT (bot_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE bot_lease.expires_at < now()
RETURNING bot_id
""")
_RELEASE = text("""
WITH given AS (
    SELECT bot_id FROM bot_lease WHERE holder = :me AND bot_id = ANY(:ids)
    ORDER BY bot_id FOR UPDATE
)
DELETE FROM bot_lease l USING given WHERE l.bot_id = given.bot_id AND l.holder = :me
""")
_LEAVE_LEASES = text("""
WITH given AS (SELECT bot_id FROM bot_lease WHERE holder = :me ORDER BY bot_id FOR UPDATE)
DELETE FROM bot_lease l USING given WHERE l.bot_id = given.bot_id AND l.holder = :me
""")
_LEAVE = text("DELETE FROM runner WHERE id = :me")
_NOTIFY = text("SELECT pg_notify(:channel, :me)")
_FENCE = """
SELECT bot_id FROM bot_lease
WHERE bot_id = ANY($1::bigint[]) AND holder = $2 AND expires_at > now()
ORDER BY bot_id FOR KEY SHARE
"""


@dataclass(frozen=True)
class Tick:
    """One round's outcome: the leases this runner holds now (renewed or just acquired),
    how many runners are alive, and the share it aims at."""

    held: frozenset[int]
    acquired: frozenset[int]
    live_runners: int
    target: int


def share(bots: int, runners: int) -> int:
    """Each runner's even share: every bot finds a runner even when they do not divide."""
    return math.ceil(bots / max(runners, 1))


async def tick(
    session: AsyncSession, me: str, active: Collection[int], *, ttl_s: float, acquire: bool
) -> Tick:
    """Heartbeat, renew this runner's leases of active bots, drop those of bots that are gone
    and (with `acquire`) take free bots up to its share, in one transaction."""
    ids = sorted(active)
    params = {"me": me, "ttl": ttl_s}
    await session.execute(_HEARTBEAT, params)
    await session.execute(_FORGET_DEAD)
    live = int(await session.scalar(_LIVE_RUNNERS) or 1)
    held = set((await session.scalars(_RENEW, {**params, "active": ids})).all())
    await session.execute(_DROP_GONE, {"me": me, "active": ids})
    target = share(len(ids), live)
    acquired: set[int] = set()
    if acquire and len(held) < target:
        rows = await session.scalars(
            _ACQUIRE, {**params, "active": ids, "need": target - len(held)}
        )
        acquired = set(rows.all())
    return Tick(frozenset(held | acquired), frozenset(acquired), live, target)


async def renew(
    session: AsyncSession, me: str, bot_ids: Collection[int], *, ttl_s: float
) -> set[int]:
    """Heartbeat and renew the given leases only (no acquiring): of `bot_ids`, those renewed."""
    params = {"me": me, "ttl": ttl_s}
    await session.execute(_HEARTBEAT, params)
    return set((await session.scalars(_RENEW, {**params, "active": sorted(bot_ids)})).all())


async def release(session: AsyncSession, me: str, bot_ids: Collection[int]) -> None:
    """Give bots back (their runtimes already stopped) and wake the other runners."""
    await session.execute(_RELEASE, {"me": me, "ids": sorted(bot_ids)})
    await notify(session, me)


async def leave(session: AsyncSession, me: str) -> None:
    """A runner stopping for good: every lease and its heartbeat go, the others wake."""
    await session.execute(_LEAVE_LEASES, {"me": me})
    await session.execute(_LEAVE, {"me": me})
    await notify(session, me)


async def notify(session: AsyncSession, me: str) -> None:
    """Wake the other runners when this transaction commits (a join, a release)."""
    await session.execute(_NOTIFY, {"channel": CHANNEL, "me": me})


async def held_in(connection: BatchConnection, me: str, bot_ids: Collection[int]) -> set[int]:
    """Of `bot_ids`, those whose lease `me` holds now, locked (FOR KEY SHARE) until the
    caller's transaction ends, so that no takeover commits in between."""
    rows = await connection.fetch(_FENCE, sorted(bot_ids), me)
    return {row["bot_id"] for row in rows}


_OLDEST_UNHANDLED = text("""
SELECT EXTRACT(EPOCH FROM now() - min(p.received_at))
FROM processed_update p
JOIN unnest(CAST(:bots AS bigint[]), CAST(:accounts AS bigint[])) AS b(bot_id, account_id)
  ON p.bot_id = b.bot_id AND p.account_id = b.account_id
WHERE p.processed_at IS NULL
""")


async def oldest_unhandled_s(
    session: AsyncSession, bots: Collection[tuple[int, int]]
) -> float | None:
    """Age in seconds of the oldest inbox row the given (bot id, account id) have not
    handled (None: nothing waits), for a runner's /health: a growing age means its bots fall
    behind, whatever its other gauges say."""
    if not bots:
        return None
    pairs = sorted(bots)
    await name_accounts(session, (a for _, a in pairs))
    age = await session.scalar(
        _OLDEST_UNHANDLED, {"bots": [b for b, _ in pairs], "accounts": [a for _, a in pairs]}
    )
    return None if age is None else round(float(age), 3)
