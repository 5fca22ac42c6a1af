"""Update inbox (table processed_update): store first, acknowledge Telegram second.

(bot_id, update_id) is unique, so a redelivered update is recognised and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate
from storage.repositories._common import table_of

# Built once: these run for every update (see _common.now_param).
_INBOX = table_of(ProcessedUpdate)
_STORE = (  # the VALUES come from the parameters, named as the columns
    insert(_INBOX)
    .on_conflict_do_nothing(index_elements=[_INBOX.c.bot_id, _INBOX.c.update_id])
    .returning(_INBOX.c.id)
)
_OLDEST_IN_CHAT = (
    select(ProcessedUpdate)
    .where(
        ProcessedUpdate.account_id == bindparam("account_id"),
        ProcessedUpdate.bot_id == bindparam("bot_id"),
        ProcessedUpdate.chat_id == bindparam("chat_id"),
        ProcessedUpdate.processed_at.is_(None),
    )
    .order_by(ProcessedUpdate.update_id)
    .limit(bindparam("limit"))
)


async def store(
    session: AsyncSession,
    account_id: int,
    *,
    bot_id: int,
    update_id: int,
    payload: Mapping[str, Any],
    chat_id: int | None = None,
) -> int | None:
    """The new inbox row id, or None when this update was already received."""
    params = {
        "account_id": account_id,
        "bot_id": bot_id,
        "update_id": update_id,
        "chat_id": chat_id,
        "payload": dict(payload),
    }
    stored: int | None = (await session.execute(_STORE, params)).scalar_one_or_none()
    return stored


async def oldest_for_chat(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, *, limit: int
) -> list[ProcessedUpdate]:
    """The chat's `limit` oldest unprocessed updates, in update_id order (Telegram's order,
    the order a chat's updates are handled in). Asking for two tells a worker whether another
    update is waiting without one more transaction just to find out there is none."""
    params = {"account_id": account_id, "bot_id": bot_id, "chat_id": chat_id, "limit": limit}
    return list((await session.scalars(_OLDEST_IN_CHAT, params)).all())
