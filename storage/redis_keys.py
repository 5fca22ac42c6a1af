"""The names of the keys the runtime keeps in Redis, and erasing an account's keys.

Every key starts `cb:<account>:<bot>:` (DESIGN §5), which keeps tenants and bots apart and
lets one SCAN pattern find an account's or a bot's keys. The Telegram runtime writes them
(aiogram's FSM storage, adapters/telegram/keys.py) and the panel erases them when an account
is purged (DESIGN §10), so the rule lives here, below both.
"""

from __future__ import annotations

import re

from redis.asyncio import Redis

KEY_PREFIX = "cb"
SEPARATOR = ":"
ERASE_BATCH = 500  # keys per SCAN step and per UNLINK
# Ids become key segments: a `:` or `*` inside one would let it impersonate or glob others.
_ID_SEGMENT = re.compile(r"[A-Za-z0-9-]{1,64}")


def _id_segment(name: str, value: int | str) -> str:
    text = str(value)
    if isinstance(value, bool) or not _ID_SEGMENT.fullmatch(text):
        raise ValueError(f"{name} must be an integer or 1-64 characters of [A-Za-z0-9-]")
    return text


def bot_prefix(account_id: int | str, bot_id: int | str) -> str:
    """`cb:<account>:<bot>`: what every key of one bot starts with."""
    return SEPARATOR.join(
        (KEY_PREFIX, _id_segment("account id", account_id), _id_segment("bot id", bot_id))
    )


def account_key_pattern(account_id: int | str) -> str:
    """SCAN pattern matching every key of every bot of one account."""
    return SEPARATOR.join((KEY_PREFIX, _id_segment("account id", account_id), "*"))


async def erase_account_keys(redis: Redis, account_id: int, *, batch: int = ERASE_BATCH) -> int:
    """UNLINK every key of the account; how many there were. SCAN walks the keyspace a
    batch at a time (KEYS would block Redis for every tenant while it walks all of it), and
    UNLINK frees the values off Redis's main thread."""
    removed = 0
    found: list[bytes | str] = []
    async for key in redis.scan_iter(match=account_key_pattern(account_id), count=batch):
        found.append(key)
        if len(found) >= batch:
            removed += await redis.unlink(*found)
            found.clear()
    if found:
        removed += await redis.unlink(*found)
    return removed
