"""Durable timers falling due: claimed, marked fired, and handed to the journal as events.

A due `waiting` row is claimed with FOR UPDATE SKIP LOCKED (several runners share the work),
and in the same transaction marked fired and turned into a `TimerDue` event in its run's
chat inbox (storage/inbox_events.py): the journal applies it to the run, as every change to
a run. A crash before commit leaves the timer due; after it, the event waits in the inbox.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage import system
from storage.db import name_accounts
from storage.models import InboxKind

# A timer of a run that ended meanwhile is marked fired and has no event.
_FIRE = text(f"""
WITH fired AS (
    UPDATE waiting w SET status = 'fired', fired_at = :now
    WHERE w.id = ANY(:ids) AND w.status = 'pending'
    RETURNING w.id, w.account_id, w.run_id, w.wait_id, w.due_at
), events AS (
    INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, kind, payload)
    SELECT r.account_id, r.bot_id, nextval('inbox_event_update_id'), r.chat_id,
           '{InboxKind.TIMER.value}', jsonb_build_object('run_id', r.id, 'wait_id', f.wait_id)
    FROM fired f JOIN run r ON r.id = f.run_id AND r.account_id = f.account_id
    WHERE r.is_active
    ORDER BY f.due_at, f.id
)
SELECT due_at FROM fired
""")


async def fire_due(session: AsyncSession, now: datetime, *, limit: int) -> list[datetime]:
    """Fire up to `limit` due timers in the caller's (system) transaction; when each of
    them was due."""
    claims = await system.claim_due_waits(session, now, limit=limit)
    if not claims:
        return []
    # The claimed rows' accounts are named first, so one statement fires timers of them all.
    await name_accounts(session, (c.account_id for c in claims))
    ids = [c.waiting_id for c in claims]
    return list((await session.scalars(_FIRE, {"now": now, "ids": ids})).all())
