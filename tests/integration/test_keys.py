"""Two bots of one account talking to the same user must never share FSM records in Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis

from adapters.telegram.keys import AccountBotKeyBuilder, make_storage
from adapters.telegram.position_mirror import PositionMirror
from storage.redis_keys import SEPARATOR, bot_prefix

pytestmark = pytest.mark.integration

USER = 555000111


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def account_id() -> str:
    # A fresh account per test, so a shared Redis never mixes runs.
    return f"t{secrets.token_hex(6)}"


async def _raw_keys(redis: Redis, pattern: str) -> set[str]:
    return {key.decode() async for key in redis.scan_iter(match=pattern)}


async def test_two_bots_keep_separate_state_and_data(redis: Redis, account_id: str) -> None:
    storage_a = make_storage(redis, account_id, 11)
    storage_b = make_storage(redis, account_id, 12)
    # Same Telegram chat and user for both bots: only the prefix tells them apart.
    key = StorageKey(bot_id=777, chat_id=USER, user_id=USER)
    try:
        await storage_a.set_state(key, "lesson:intro")
        await storage_a.set_data(key, {"element": "q1"})
        await storage_b.set_state(key, "lesson:final")
        await storage_b.set_data(key, {"element": "q9"})

        assert await storage_a.get_state(key) == "lesson:intro"
        assert await storage_a.get_data(key) == {"element": "q1"}
        assert await storage_b.get_state(key) == "lesson:final"
        assert await storage_b.get_data(key) == {"element": "q9"}

        keys = await _raw_keys(redis, f"cb:{account_id}:*")
        assert keys == {
            f"cb:{account_id}:11:{USER}:{USER}:default:state",
            f"cb:{account_id}:11:{USER}:{USER}:default:data",
            f"cb:{account_id}:12:{USER}:{USER}:default:state",
            f"cb:{account_id}:12:{USER}:{USER}:default:data",
        }
        assert await redis.get(f"cb:{account_id}:11:{USER}:{USER}:default:state") == (
            b"lesson:intro"
        )
    finally:
        await redis.delete(*await _raw_keys(redis, f"cb:{account_id}:*"))


async def test_flushing_one_bot_leaves_the_other(redis: Redis, account_id: str) -> None:
    storage_a = make_storage(redis, account_id, 21)
    storage_b = make_storage(redis, account_id, 22)
    key = StorageKey(bot_id=777, chat_id=USER, user_id=USER)
    try:
        await storage_a.set_state(key, "a")
        await storage_b.set_state(key, "b")

        await redis.delete(*await _raw_keys(redis, bot_prefix(account_id, 21) + SEPARATOR + "*"))

        assert await storage_a.get_state(key) is None
        assert await storage_b.get_state(key) == "b"
    finally:
        await redis.delete(*await _raw_keys(redis, f"cb:{account_id}:*"))


def test_topic_and_business_chats_stay_inside_the_bot_segment() -> None:
    builder = AccountBotKeyBuilder(3, 4)
    key = StorageKey(
        bot_id=1, chat_id=-100500, user_id=9, thread_id=7, business_connection_id="bc1"
    )
    assert builder.build(key, "data") == "cb:3:4:bc1@-100500#7:9:default:data"


@pytest.mark.parametrize("bad", ["", "a:b", "x*", "a b", True, "ü"])
def test_ids_that_could_forge_or_glob_keys_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        AccountBotKeyBuilder(bad, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AccountBotKeyBuilder(1, bad)  # type: ignore[arg-type]


async def test_the_position_mirror_writes_what_the_bots_storage_reads(
    redis: Redis, account_id: str
) -> None:
    """The runtime mirrors positions in batches, into the keys aiogram's RedisStorage of that
    bot reads; the latest write per key wins, and a finished run's key is deleted."""
    storage = make_storage(redis, account_id, 31)
    builder = AccountBotKeyBuilder(account_id, 31)
    key = StorageKey(bot_id=31, chat_id=USER, user_id=USER)
    other = StorageKey(bot_id=31, chat_id=USER + 1, user_id=USER + 1)
    mirror = PositionMirror(redis)
    try:
        mirror.put(builder.build(key, "state"), "run:1:q1")
        mirror.put(builder.build(key, "state"), "run:1:q2")
        mirror.put(builder.build(other, "state"), "run:2:intro")
        await mirror.flush()
        assert await storage.get_state(key) == "run:1:q2"
        assert await storage.get_state(other) == "run:2:intro"

        mirror.put(builder.build(other, "state"), None)  # the run finished
        await mirror.flush()
        assert await storage.get_state(other) is None
        assert await _raw_keys(redis, f"cb:{account_id}:*") == {builder.build(key, "state")}
    finally:
        await redis.delete(builder.build(key, "state"), builder.build(other, "state"))
