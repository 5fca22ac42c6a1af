"""Cross-account reads (bot pool, webhook routing, timers, deep links, login, API keys)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage import system, timers
from storage.crypto import Secret, token_hash
from storage.db import Database
from storage.migrate import upgrade_to_head
from storage.repositories import accounts, api_keys, bots, members, waiting
from storage.roles import AppRoleError, ensure_app_role
from tests.integration import seeding
from tests.integration.conftest import (
    create_database,
    database_url,
    drop_database,
    random_name,
    random_telegram_id,
)

pytestmark = pytest.mark.integration

# Timers of this module are due in 1971, far before anything another test schedules, so the
# cross-account claim below always reaches them first.
EPOCH = datetime(1971, 1, 1, tzinfo=UTC)


async def test_bot_pool_lists_active_bots_of_live_accounts(db, seed_account, secret_box):
    a = await seed_account()
    b = await seed_account()
    deleted = await seed_account()
    async with db.tenant(b.account_id) as s:
        idle = await bots.create(
            s,
            b.account_id,
            token=Secret(f"{random_telegram_id()}:idle"),
            box=secret_box,
            telegram_id=random_telegram_id(),
            username="idle_bot",
            active=False,
        )
    async with db.tenant(deleted.account_id) as s:
        assert await accounts.soft_delete(s, deleted.account_id)

    async with db.system() as s:
        pool = {bot.id: bot.account_id for bot in await system.active_bots_for_pool(s)}
    assert pool[a.bot_id] == a.account_id
    assert pool[b.bot_id] == b.account_id
    assert idle.id not in pool
    assert deleted.bot_id not in pool

    async with db.tenant(deleted.account_id) as s:
        assert await accounts.restore(s, deleted.account_id)
    async with db.system() as s:
        assert deleted.bot_id in {bot.id for bot in await system.active_bots_for_pool(s)}


async def test_webhook_routing_by_public_id(db, seed_account, secret_box):
    """The pool routes a webhook by the bot's opaque id, from the rows it loads."""
    seeded = await seed_account()
    async with db.tenant(seeded.account_id) as s:
        public_id = (await bots.get(s, seeded.account_id, seeded.bot_id)).public_id
    async with db.system() as s:
        by_public_id = {bot.public_id: bot for bot in await system.active_bots_for_pool(s)}
    assert "no-such-bot" not in by_public_id
    bot = by_public_id[public_id]
    assert (bot.id, bot.account_id) == (seeded.bot_id, seeded.account_id)
    assert bot.webhook_secret_ciphertext is not None
    assert secret_box.decrypt(bot.webhook_secret_ciphertext) == seeded.webhook_secret
    assert secret_box.decrypt(bot.token_ciphertext) == seeded.bot_token
    assert public_id not in seeded.bot_token.reveal() and len(public_id) >= 20


async def test_login_lists_the_users_accounts_and_roles(db, make_account):
    user = random_telegram_id()
    first = await make_account(owner_telegram_user_id=user, name="First")
    second = await make_account()
    await make_account()  # someone else's
    async with db.tenant(second) as s:
        await members.add(s, second, telegram_user_id=user, role="teacher")
        assert await accounts.soft_delete(s, second)
    async with db.system() as s:
        live = await system.accounts_of_user(s, user)
        everything = await system.accounts_of_user(s, user, include_deleted=True)
    assert [(x.account_id, x.role, x.name) for x in live] == [(first, "owner", "First")]
    assert [(x.account_id, x.role) for x in everything] == [(first, "owner"), (second, "teacher")]
    assert everything[1].deleted_at is not None


async def test_api_key_resolves_to_its_account_and_maker_until_revoked(db, make_account):
    maker = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=maker)
    async with db.tenant(account_id) as s:
        row, key = await api_keys.create(s, account_id, name="ci", role="admin", created_by=maker)
    assert key.reveal().startswith("cbk_")
    async with db.system() as s:
        owner = await system.api_key_by_hash(s, token_hash(key))
        assert await system.api_key_by_hash(s, token_hash(key.reveal() + "x")) is None
    assert owner == system.ApiKeyOwner(row.id, account_id, "admin", maker, "owner")
    async with db.tenant(account_id) as s:
        await members.set_role(s, account_id, maker, "viewer")
    async with db.system() as s:
        demoted = await system.api_key_by_hash(s, token_hash(key))
    assert (demoted.created_by, demoted.maker_role) == (maker, "viewer")
    async with db.tenant(account_id) as s:
        assert await api_keys.revoke(s, account_id, row.id)
    async with db.system() as s:
        assert await system.api_key_by_hash(s, token_hash(key)) is None


async def test_account_creation_binds_the_session_to_the_new_account(db):
    user = random_telegram_id()
    async with db.system() as s:
        account = await system.create_account(
            s, slug=random_name("new").replace("_", "-"), name="N", plan="pro"
        )
        await members.add(s, account.id, telegram_user_id=user, role="owner")
    async with db.tenant(account.id) as s:
        assert (await accounts.get(s, account.id)).plan == "pro"
        assert (await members.get(s, account.id, user)).role == "owner"


async def _wait_for(db, seeded, due_at: datetime, wait_id: str = "w") -> int:
    async with db.tenant(seeded.account_id) as s:
        row = await seeding.timer(
            s, seeded.account_id, run_id=seeded.run_id, wait_id=wait_id, due_at=due_at
        )
        return row.id


async def test_due_timer_is_claimed_once_and_fired_in_the_same_transaction(db, seed_account):
    seeded = await seed_account()
    await _wait_for(db, seeded, EPOCH)
    not_yet = await _wait_for(db, seeded, EPOCH + timedelta(days=1), "later")

    async with db.system() as s:
        assert await timers.fire_due(s, EPOCH + timedelta(minutes=1), limit=10) == [EPOCH]

    async with db.system() as s:
        assert await timers.fire_due(s, EPOCH + timedelta(minutes=1), limit=10) == []
    async with db.tenant(seeded.account_id) as s:
        assert (await waiting.get(s, seeded.account_id, not_yet)).status == "pending"
        await seeding.cancel_timers(s, seeded.account_id, seeded.run_id)


async def test_concurrent_schedulers_never_claim_the_same_timer(db, seed_account):
    seeded = await seed_account()
    for i in range(3):
        await _wait_for(db, seeded, EPOCH + timedelta(seconds=i), f"w{i}")
    now = EPOCH + timedelta(hours=1)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def slow_scheduler() -> list[datetime]:
        async with db.system() as s:
            fired = await timers.fire_due(s, now, limit=1)
            holding.set()
            await release.wait()
            return fired

    task = asyncio.create_task(slow_scheduler())
    await holding.wait()
    fired = []
    for _ in range(2):  # while the first row is locked, others get the remaining rows
        async with db.system() as s:
            fired += await timers.fire_due(s, now, limit=1)
    async with db.system() as s:
        assert await timers.fire_due(s, now, limit=1) == []  # one locked, two fired
    release.set()
    fired += await task
    assert sorted(fired) == [EPOCH + timedelta(seconds=i) for i in range(3)]


async def test_timers_of_deleted_accounts_are_not_claimed(db, seed_account):
    seeded = await seed_account()
    await _wait_for(db, seeded, EPOCH - timedelta(days=1))
    async with db.tenant(seeded.account_id) as s:
        await accounts.soft_delete(s, seeded.account_id)
    async with db.system() as s:
        claims = await system.claim_due_waits(s, EPOCH - timedelta(hours=1), limit=1000)
    assert seeded.account_id not in {claim.account_id for claim in claims}
    async with db.tenant(seeded.account_id) as s:
        await seeding.cancel_timers(s, seeded.account_id, seeded.run_id)  # tidy up


@pytest.fixture
async def plain_owner_database(service_urls, secret_box) -> AsyncIterator[str]:
    """A database owned and migrated by a NON-superuser role, as on managed PostgreSQL."""
    owner = random_name("coursebot_owner")
    name = random_name("coursebot_plain")
    admin = create_async_engine(
        service_urls.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOBYPASSRLS'))
    try:
        await create_database(service_urls.database_url, name, owner=owner)
        yield database_url(service_urls.database_url, name, user=owner)
    finally:
        await drop_database(service_urls.database_url, name)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))
        await admin.dispose()


async def test_system_functions_work_when_the_owner_is_not_a_superuser(
    test_database, plain_owner_database, secret_box
):
    """`test_database` ran first, so the (cluster-wide) app role exists: a plain owner can't
    create roles, as on managed PostgreSQL where an admin creates it once."""
    await upgrade_to_head(plain_owner_database)
    with pytest.raises(AppRoleError, match="may not create roles"):
        await ensure_app_role(plain_owner_database, role=random_name("coursebot_never"))
    app_url = await ensure_app_role(plain_owner_database)  # the shared app role exists already
    plain = Database(app_url, pool_size=2)
    try:
        created = []
        for n in range(2):
            async with plain.system() as s:
                account = await system.create_account(s, slug=f"plain-{n}", name="P", plan="free")
                bot = await bots.create(
                    s,
                    account.id,
                    token=Secret(f"{n}:{secrets.token_hex(8)}"),
                    box=secret_box,
                    telegram_id=random_telegram_id(),
                    username=f"plain{n}_bot",
                )
                created.append((bot.id, account.id, bot.public_id))
        async with plain.system() as s:
            active = await system.active_bots_for_pool(s)
            pool = sorted((bot.id, bot.account_id) for bot in active)
            routed = {bot.public_id: bot for bot in active}[created[1][2]]
            hidden = await s.scalar(text("SELECT count(*) FROM bot"))
        assert pool == sorted((bot_id, account_id) for bot_id, account_id, _ in created)
        assert routed.id == created[1][0]
        assert hidden == 0  # the app role itself still sees nothing without an account
    finally:
        await plain.dispose()
