"""Per-account, per-bot Redis keys for aiogram FSM storage.

aiogram's `DefaultKeyBuilder` omits the bot unless told to, so two bots talking to the same
user would share one FSM record. Every key here starts `cb:<account>:<bot>:`
(storage/redis_keys.py), which keeps tenants and bots apart and lets an operator find or
flush one bot's keys with one pattern. Redis is only a cache of progress (PostgreSQL is the
truth), so flushing is always safe.
"""

from __future__ import annotations

from typing import Literal

from aiogram.fsm.storage.base import KeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from storage.redis_keys import SEPARATOR, bot_prefix


class AccountBotKeyBuilder(KeyBuilder):
    """Keys `cb:<account>:<bot>:<chat>:<user>:<destiny>[:<part>]`.

    A forum topic or business connection, when present, is folded into the chat segment as
    `<chat>#<thread>` / `<connection>@<chat>` so the segment count stays fixed and
    `cb:<account>:<bot>:*` always matches exactly one bot.
    """

    def __init__(self, account_id: int | str, bot_id: int | str) -> None:
        self.prefix = bot_prefix(account_id, bot_id)

    def build(
        self,
        key: StorageKey,
        part: Literal["data", "state", "lock"] | None = None,
    ) -> str:
        chat = str(key.chat_id)
        if key.thread_id:
            chat = f"{chat}#{key.thread_id}"
        if key.business_connection_id:
            chat = f"{key.business_connection_id}@{chat}"
        parts = [self.prefix, chat, str(key.user_id), key.destiny]
        if part:
            parts.append(part)
        return SEPARATOR.join(parts)


def make_storage(redis: Redis, account_id: int | str, bot_id: int | str) -> RedisStorage:
    """A `RedisStorage` for one bot; several storages may share one Redis connection pool."""
    return RedisStorage(redis=redis, key_builder=AccountBotKeyBuilder(account_id, bot_id))
