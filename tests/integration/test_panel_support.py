"""Shared harness of the panel tests (no tests here): an app on the test database, signed-in
clients, and a seeded account holding one object for every id the panel's paths take.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import select

from courses.workers import CourseWorkers
from panel_api.app import create_app
from panel_api.auth import sessions
from panel_api.context import PanelContext, SheetsClientFactory, utc_now
from panel_api.health import HealthProbe
from panel_api.settings import PanelSettings
from storage.config import Settings
from storage.crypto import Secret, SecretBox
from storage.db import Database
from storage.models import Banned, MemberRole, ReminderRule, Restricted
from storage.outbound import OutboundClient
from storage.repositories import api_keys, members
from tests.course_workers import shared_course_workers
from tests.integration.conftest import SeededAccount, random_telegram_id

LOGIN_BOT_TOKEN = Secret("424242:login-bot-secret-for-tests-of-the-panel")
SUPERADMIN_ID = 777_000_001


def panel_context(
    db: Database,
    box: SecretBox,
    *,
    telegram_api_base: str | None = None,
    public_base_url: str | None = None,
    sheets_client: SheetsClientFactory | None = None,
    outbound: OutboundClient | None = None,
    clock: Callable[[], datetime] = utc_now,
    workers: CourseWorkers | None = None,
) -> PanelContext:
    """`outbound` replaces the production client (the system resolver, nothing allowed)."""
    ctx = PanelContext(
        db=db,
        box=box,
        settings=Settings(telegram_api_base=telegram_api_base, public_base_url=public_base_url),
        panel=PanelSettings(
            login_bot_token=LOGIN_BOT_TOKEN, superadmins=frozenset({SUPERADMIN_ID})
        ),
        health=HealthProbe({}),
        outbound=outbound,
        workers=workers or shared_course_workers(),
        clock=clock,
    )
    if sheets_client is not None:
        ctx.sheets_client = sheets_client
    return ctx


@asynccontextmanager
async def panel_client(ctx: PanelContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://panel") as client:
        yield client


async def user_headers(
    ctx: PanelContext, telegram_user_id: int, username: str | None = None
) -> dict:
    """A Cookie header as the browser sends it after logging in as this user."""
    token = await sessions.start(ctx, telegram_user_id, username)
    return {"Cookie": f"{sessions.COOKIE_NAME}={token}"}


def key_headers(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class PanelWorld:
    """A seeded account: a user per role, an API key per role, and an object per path id."""

    seed: SeededAccount
    users: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def account_id(self) -> int:
        return self.seed.account_id


async def build_world(db: Database, seed: SeededAccount) -> PanelWorld:
    """Add members and keys of every role to a `seed_account()` and collect its ids."""
    world = PanelWorld(seed)
    async with db.tenant(seed.account_id) as s:
        owner = (await members.list_all(s, seed.account_id))[0]
        world.users[MemberRole.OWNER] = owner.telegram_user_id
        for role in MemberRole:
            if role is not MemberRole.OWNER:
                user_id = random_telegram_id()
                await members.add(s, seed.account_id, telegram_user_id=user_id, role=role)
                world.users[role] = user_id
            _, key = await api_keys.create(
                s, seed.account_id, name=f"{role}-key", role=role, created_by=owner.telegram_user_id
            )
            world.keys[role] = key.reveal()
        spare_key, _ = await api_keys.create(
            s, seed.account_id, name="spare", role="viewer", created_by=owner.telegram_user_id
        )
        ban_id = await s.scalar(select(Banned.id).where(Banned.account_id == seed.account_id))
        entry_id = await s.scalar(
            select(Restricted.id).where(Restricted.account_id == seed.account_id)
        )
        reminder_id = await s.scalar(
            select(ReminderRule.id).where(ReminderRule.account_id == seed.account_id)
        )
    world.ids = {
        "account_id": seed.account_id,
        "bot_id": seed.bot_id,
        "course_id": seed.course_id,
        "version_id": seed.version_id,
        "deployment_id": seed.deployment_id,
        "token_id": seed.token_id,
        "run_id": seed.run_id,
        "api_key_id": spare_key.id,
        "member_user_id": world.users[MemberRole.VIEWER],
        "ban_id": ban_id,
        "student_user_id": seed.telegram_user_id,
        "entry_id": entry_id,
        "endpoint_id": seed.endpoint_id,
        "delivery_id": seed.delivery_id,
        "reminder_id": reminder_id,
        "broadcast_id": seed.broadcast_id,
    }
    return world


def fill_path(path: str, ids: dict[str, int]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path
