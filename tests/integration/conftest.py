"""Database fixtures: a fresh, migrated database per test session, reached as the app role.

`test_database` creates `coursebot_test_<random>` on the server of `service_urls` (so several
test runs can share one PostgreSQL), migrates it to head, prepares the app role and drops the
database at the end. Tests isolate themselves by creating their own accounts (`make_account`),
never by truncating.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from runtime.course_cache import CourseCache
from runtime.journal import Journal
from storage import system, webhooks
from storage.config import Settings
from storage.crypto import Secret, SecretBox
from storage.db import APP_ROLE_PASSWORD_PURPOSE, Database
from storage.migrate import upgrade_to_head
from storage.models import (
    BotMedia,
    Broadcast,
    BroadcastRecipient,
    Environment,
    LinkVisit,
    MemberNotice,
    MemberNotification,
    ReminderRule,
    RunReminder,
    TokenKind,
    WebhookDelivery,
)
from storage.repositories import (
    api_keys,
    audit,
    bans,
    bots,
    courses,
    deployments,
    llm,
    media,
    members,
    payments,
    tokens,
)
from tests.course_workers import shared_course_workers
from tests.integration import seeding

TEST_SECRET_KEY = "61fcytjnFxVmjl_wUiFJZ8aoABfvYjya493JxCAr2Tg="
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MigratedDatabase:
    name: str
    owner_url: str  # the role that ran the migrations (bypasses nothing thanks to FORCE RLS)
    app_url: str  # the app role: what `Database` connects with


def database_url(server_url: str, name: str, *, user: str | None = None) -> str:
    url = make_url(server_url).set(database=name)
    if user is not None:
        url = url.set(username=user, password=None)
    return url.render_as_string(hide_password=False)


async def create_database(server_url: str, name: str, *, owner: str | None = None) -> None:
    engine = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            owner_clause = f' OWNER "{owner}"' if owner else ""
            await conn.execute(text(f'CREATE DATABASE "{name}"{owner_clause}'))
    finally:
        await engine.dispose()


async def drop_database(server_url: str, name: str) -> None:
    engine = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


def process_settings(
    test_database: MigratedDatabase, redis_url: str, data_dir: Path, **overrides: Any
) -> Settings:
    """What `coursebot up` would read from the environment, pointed at the test stores."""
    return Settings(
        data_dir=data_dir,
        database_url=test_database.owner_url,
        redis_url=redis_url,
        secret_key=TEST_SECRET_KEY,
        **overrides,
    )


def random_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@pytest.fixture(scope="session")
def secret_box() -> SecretBox:
    return SecretBox.from_key_string(TEST_SECRET_KEY)


@pytest.fixture(scope="session")
async def test_database(service_urls, secret_box) -> AsyncIterator[MigratedDatabase]:
    from storage.roles import ensure_app_role

    name = random_name("coursebot_test")
    await create_database(service_urls.database_url, name)
    try:
        owner_url = database_url(service_urls.database_url, name)
        await upgrade_to_head(owner_url)
        app_url = await ensure_app_role(
            owner_url, password=secret_box.derive(APP_ROLE_PASSWORD_PURPOSE)
        )
        yield MigratedDatabase(name, owner_url, app_url)
    finally:
        await drop_database(service_urls.database_url, name)


@pytest.fixture(scope="session")
async def db(test_database) -> AsyncIterator[Database]:
    """The app's `Database` on the session's test database (pool big enough for fan-outs)."""
    database = Database(test_database.app_url, pool_size=20, max_overflow=40)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def owner_engine(test_database) -> AsyncIterator[AsyncEngine]:
    """Owner connection for checks that must look past RLS (superuser on test servers)."""
    engine = create_async_engine(test_database.owner_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture
async def empty_database(service_urls) -> AsyncIterator[str]:
    """Owner URL of a brand-new, unmigrated database, dropped after the test."""
    name = random_name("coursebot_scratch")
    await create_database(service_urls.database_url, name)
    try:
        yield database_url(service_urls.database_url, name)
    finally:
        await drop_database(service_urls.database_url, name)


MakeAccount = Callable[..., Awaitable[int]]


@pytest.fixture
def make_account(db) -> MakeAccount:
    """`await make_account(owner_telegram_user_id=...)` -> id of a new account with an owner."""

    async def make(*, owner_telegram_user_id: int | None = None, name: str = "Test school") -> int:
        async with db.system() as session:
            account = await system.create_account(
                session, slug=random_name("t").replace("_", "-"), name=name, plan="free"
            )
            await members.add(
                session,
                account.id,
                telegram_user_id=owner_telegram_user_id or random_telegram_id(),
                role="owner",
            )
            return account.id

    return make


def random_telegram_id() -> int:
    return secrets.randbelow(2**40) + 10**6


@dataclass(frozen=True)
class SeededAccount:
    account_id: int
    bot_id: int
    bot_token: Secret
    webhook_secret: Secret
    payment_secret: Secret
    course_id: int
    version_id: int
    deployment_id: int
    token_id: int
    token: str
    participant_id: int
    run_id: int
    chat_id: int
    telegram_user_id: int
    endpoint_id: int = 0
    delivery_id: int = 0
    hook_secret: Secret | None = None
    broadcast_id: int = 0


SeedAccount = Callable[[], Awaitable[SeededAccount]]


@pytest.fixture
def seed_account(db, make_account, secret_box) -> SeedAccount:
    """`await seed_account()` -> a new account with at least one row in EVERY table."""

    async def seed() -> SeededAccount:
        account_id = await make_account()
        user = random_telegram_id()
        bot_token = Secret(f"{random_telegram_id()}:AA{secrets.token_urlsafe(26)}")
        payment_secret = Secret("live_" + secrets.token_urlsafe(24))
        async with db.tenant(account_id) as s:
            owner = (await members.list_all(s, account_id))[0].telegram_user_id
            await api_keys.create(s, account_id, name="ci", role="admin", created_by=owner)
            bot = await bots.create(
                s,
                account_id,
                token=bot_token,
                box=secret_box,
                telegram_id=random_telegram_id(),
                username="seed_bot",
            )
            course = await courses.create(s, account_id, title="Seed", slug="seed")
            version = await courses.add_version(
                s,
                account_id,
                course.id,
                source_text="intro:\n  type: message\n  text: Hi\n",
                source_format="yaml",
                elements=[{"id": "intro", "type": "message", "text": "Hi"}],
                checksum="0" * 64,
            )
            deployment = await deployments.create(
                s,
                account_id,
                course_version_id=version.id,
                bot_id=bot.id,
                environment=Environment.PROD,
                restricted=True,
                price_amount=Decimal("990.00"),
                price_currency="RUB",
            )
            await bots.update_bot(s, account_id, bot.id, default_deployment_id=deployment.id)
            token = await tokens.create(
                s, account_id, deployment_id=deployment.id, kind=TokenKind.GROUP, max_uses=5
            )
            participant = await seeding.participant(
                s, account_id, telegram_user_id=user, first_name="Ann"
            )
            run = await seeding.run(
                s,
                account_id,
                deployment_id=deployment.id,
                course_version_id=version.id,
                bot_id=bot.id,
                chat_id=user,
                telegram_user_id=user,
                participant_id=participant.id,
                token_id=token.id,
            )
            assert run is not None
            await seeding.line(
                s, account_id, run_id=run.id, element_id="intro", role="bot", text="Hi"
            )
            await seeding.timer(s, account_id, run_id=run.id, wait_id="w1", due_at=FAR_FUTURE)
            await seeding.message(
                s, account_id, bot_id=bot.id, chat_id=user, run_id=run.id, payload={"text": "Hi"}
            )
            await bans.ban(s, account_id, telegram_user_id=random_telegram_id(), bot_id=bot.id)
            await bans.allow(s, account_id, deployment_id=deployment.id, username="@Seed_User")
            await seeding.update_row(
                s, account_id, bot_id=bot.id, update_id=1, chat_id=user, payload={"update_id": 1}
            )
            await payments.create_once(
                s,
                account_id,
                deployment_id=deployment.id,
                idempotence_key=secrets.token_hex(8),
                amount=Decimal("990.00"),
                currency="RUB",
                chat_id=(payer := random_telegram_id()),  # nobody the tests play as
                telegram_user_id=payer,
                description="Seed course",
                return_url="https://t.me/seed_bot",
                metadata={"run": run.id},
            )
            await payments.set_credentials(
                s, account_id, shop_id="123456", secret=payment_secret, box=secret_box
            )
            await llm.set_settings(
                s,
                account_id,
                box=secret_box,
                base_url="http://llm.invalid/v1",
                api_key=Secret("sk-seed"),
                model="seed-model",
            )
            await llm.record_usage(
                s, account_id, day=date.today(), prompt_tokens=10, completion_tokens=5
            )
            await audit.record(s, account_id, actor="system", action="seed", object_type="account")
            s.add(
                BotMedia(
                    account_id=account_id,
                    bot_id=bot.id,
                    url="https://x.org/seed.png",
                    file_id="seed-file-id",
                )
            )
            await media.record_refusals(
                s, account_id, version.id, [("intro", "https://x.org/page.html")], "seed"
            )
            hook_secret = Secret(webhooks.new_secret())
            endpoint = await webhooks.add_endpoint(
                s,
                account_id,
                url="https://crm.example.com/hook",
                secret_ciphertext=secret_box.encrypt(hook_secret),
                events=["run.started"],
            )
            event = webhooks.hook_event(account_id, "run.started", FAR_FUTURE, {"run_id": run.id})
            await webhooks.record_events(webhooks.session_execute(s), [event])
            delivery_id = await s.scalar(
                select(WebhookDelivery.id).where(WebhookDelivery.account_id == account_id)
            )
            rule = ReminderRule(
                account_id=account_id,
                deployment_id=deployment.id,
                after_minutes=60,
                max_count=2,
                text="Still there?",
            )
            s.add(rule)
            opt_in = MemberNotification(
                account_id=account_id,
                deployment_id=deployment.id,
                telegram_user_id=owner,
                on_finish=True,
            )
            s.add(opt_in)
            await s.flush()
            s.add(
                RunReminder(account_id=account_id, run_id=run.id, rule_id=rule.id, since=FAR_FUTURE)
            )
            s.add(
                MemberNotice(
                    account_id=account_id,
                    notification_id=opt_in.id,
                    run_id=run.id,
                    kind="finished",
                    episode=FAR_FUTURE,
                )
            )
            broadcast = Broadcast(
                account_id=account_id,
                bot_id=bot.id,
                deployment_id=deployment.id,
                text="Hello",
                message={"effect": "SendText", "text": "Hello", "parse_mode": "HTML"},
                audience="all",
                send_at=FAR_FUTURE,  # never due: no runtime of a test sends it
            )
            s.add(broadcast)
            await s.flush()
            s.add(
                BroadcastRecipient(
                    account_id=account_id,
                    broadcast_id=broadcast.id,
                    bot_id=bot.id,
                    chat_id=user,
                    status="sent",
                )
            )
            s.add(
                LinkVisit(
                    account_id=account_id,
                    bot_id=bot.id,
                    deployment_id=deployment.id,
                    chat_id=user,
                    telegram_user_id=user,
                    token_id=token.id,
                    first_at=FAR_FUTURE,
                    last_at=FAR_FUTURE,
                )
            )
            assert bot.webhook_secret_ciphertext is not None
            webhook_secret = secret_box.decrypt(bot.webhook_secret_ciphertext)
        return SeededAccount(
            account_id=account_id,
            bot_id=bot.id,
            bot_token=bot_token,
            webhook_secret=webhook_secret,
            payment_secret=payment_secret,
            course_id=course.id,
            version_id=version.id,
            deployment_id=deployment.id,
            token_id=token.id,
            token=token.token,
            participant_id=participant.id,
            run_id=run.id,
            chat_id=user,
            telegram_user_id=user,
            endpoint_id=endpoint.id,
            delivery_id=delivery_id,
            hook_secret=hook_secret,
            broadcast_id=broadcast.id,
        )

    return seed


@pytest.fixture
async def journal(db: Database) -> AsyncIterator[Journal]:
    """A runner's journal (no leases) on the test database, stopped after the test."""
    journal = Journal(db, CourseCache(shared_course_workers()), lambda: datetime.now(UTC))
    journal.start()
    yield journal
    await journal.stop()
