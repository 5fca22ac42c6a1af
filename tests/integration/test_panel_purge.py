"""Purging an account erases everything of it, its keys in Redis too (DESIGN §10): the
students' positions the runtime mirrors there, under `cb:<account>:<bot>:...`. Other
accounts' keys stay. The app is assembled exactly as `coursebot up` assembles it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiogram.fsm.storage.base import StorageKey
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text

from adapters.telegram.keys import AccountBotKeyBuilder, make_storage
from process import build_process
from storage.redis_keys import ERASE_BATCH
from tests.integration.conftest import process_settings
from tests.integration.test_panel_support import user_headers

pytestmark = pytest.mark.integration


@pytest.fixture
async def served_app(test_database, service_urls, tmp_path) -> AsyncIterator[FastAPI]:
    settings = process_settings(
        test_database,
        service_urls.redis_url,
        tmp_path,
        telegram_api_base="http://127.0.0.1:9",  # nothing may reach Telegram
    )
    process = await build_process(settings)
    try:
        yield process.app
    finally:
        await process.stop()


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


async def keys_of(redis: Redis, account_id: int) -> set[bytes]:
    return {key async for key in redis.scan_iter(match=f"cb:{account_id}:*")}


async def remember_student(redis: Redis, account_id: int, bot_id: int, student: int) -> None:
    """What the runtime keeps of a student in the bot's FSM storage."""
    storage = make_storage(redis, account_id, bot_id)
    key = StorageKey(bot_id=bot_id, chat_id=student, user_id=student)
    await storage.set_state(key, "run:1:intro")
    await storage.set_data(key, {"element": "intro"})


async def test_purge_erases_the_accounts_redis_keys_and_no_others(
    served_app: FastAPI, redis: Redis, seed_account
) -> None:
    purged, kept = await seed_account(), await seed_account()
    for account_id in (purged.account_id, kept.account_id):
        # Ids start again with every test database: an earlier session's keys may share them.
        if stale := await keys_of(redis, account_id):
            await redis.delete(*stale)
    await remember_student(redis, purged.account_id, purged.bot_id, purged.telegram_user_id)
    await remember_student(redis, kept.account_id, kept.bot_id, kept.telegram_user_id)
    # More students than one erase batch holds, on a second bot of the account too.
    builder = AccountBotKeyBuilder(purged.account_id, purged.bot_id + 1)
    await redis.mset(
        {
            builder.build(StorageKey(0, student, student), "state"): "run:2:q1"
            for student in range(ERASE_BATCH * 2 + 1)
        }
    )
    assert len(await keys_of(redis, purged.account_id)) == ERASE_BATCH * 2 + 3
    kept_keys = await keys_of(redis, kept.account_id)
    assert len(kept_keys) == 2

    ctx = served_app.state.ctx
    async with ctx.db.tenant(purged.account_id) as session:
        owner = await session.scalar(text("SELECT telegram_user_id FROM account_member"))
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{purged.account_id}"
    transport = httpx.ASGITransport(app=served_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://panel") as client:
        assert (await client.delete(base, headers=headers)).status_code == 200
        assert await keys_of(redis, purged.account_id), "a soft delete keeps them for restore"
        answer = await client.post(f"{base}/purge", headers=headers)

    assert answer.status_code == 204, answer.text
    assert await keys_of(redis, purged.account_id) == set()
    assert await keys_of(redis, kept.account_id) == kept_keys
    await redis.delete(*kept_keys)
