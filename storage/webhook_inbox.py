"""A webhook's Telegram update into the inbox, from any process (DESIGN §8).

With several processes the panel that receives Telegram's call is rarely the runner that
hosts the bot. The update is stored (de-duplicated by (bot_id, update_id), before Telegram
is answered, so an acknowledged update is never lost) and, in the same transaction, the
lease holder is woken: `coursebot_inbox` with `<bot_id>:<chat_id>:u`, delivered on commit
(runtime/inbox_listener.py). The holder then handles it in its chat's order.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "coursebot_inbox"
UPDATE_MARK = "u"  # `<bot>:<chat>:u`: a Telegram update, not another producer's event

# An update that means nothing to a course (no chat) is stored processed: only its id counts.
_STORE = text("""
INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, payload, processed_at)
VALUES (:account_id, :bot_id, :update_id, :chat_id, CAST(:payload AS jsonb),
        CASE WHEN CAST(:chat_id AS bigint) IS NULL THEN now() END)
ON CONFLICT (bot_id, update_id) DO NOTHING
RETURNING id
""")
_WAKE = text("SELECT pg_notify(:channel, :payload)")
_TOUCH = text(
    "UPDATE bot SET last_update_at = now() WHERE id = :bot_id AND account_id = :account_id"
)


async def store_update(
    session: AsyncSession,
    *,
    account_id: int,
    bot_id: int,
    update_id: int,
    chat_id: int | None,
    payload: str,
    touch: bool,
) -> bool:
    """Store the update in the caller's tenant transaction; False: a redelivery."""
    params = {
        "account_id": account_id,
        "bot_id": bot_id,
        "update_id": update_id,
        "chat_id": chat_id,
        "payload": payload,
    }
    stored = (await session.execute(_STORE, params)).first() is not None
    if touch:
        await session.execute(_TOUCH, {"bot_id": bot_id, "account_id": account_id})
    if stored and chat_id is not None:
        wake = f"{bot_id}:{chat_id}:{UPDATE_MARK}"
        await session.execute(_WAKE, {"channel": CHANNEL, "payload": wake})
    return stored
