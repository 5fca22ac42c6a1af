"""Rows a benchmark needs: schools (accounts) with bots, a course, deployments and tokens.

`provision_schools` goes through the repositories as the app role, exactly as the panel
would, because the throughput benchmark then plays deep links against those rows.
`insert_idle_bots` writes thousands of bot rows in one statement as the owner: the memory
benchmark only needs bots to host, and the panel's per-bot path would dominate its run time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from botapi.deeplink import build_start_payload
from courses.loader import load_course
from engine.model import course_to_elements
from storage import system
from storage.crypto import Secret, SecretBox, token_hash
from storage.db import Database
from storage.models import Account, Bot
from storage.repositories import bots, courses, deployments, members, tokens
from storage.repositories.bots import new_public_id, new_webhook_secret

TELEGRAM_ID_BASE = 8_000_000_000


def bot_token(telegram_id: int) -> str:
    return f"{telegram_id}:{secrets.token_urlsafe(26)}"


@dataclass(frozen=True)
class SchoolBot:
    """One provisioned bot and the deep link its students start with."""

    account_id: int
    bot_id: int
    telegram_id: int
    version_id: int
    deployment_id: int
    start_payload: str


def course_elements(source_text: str, name: str) -> list[dict[str, object]]:
    loaded = load_course(source_text, source_name=name)
    if loaded.course is None:
        raise ValueError(f"{name} does not load: " + "; ".join(map(str, loaded.errors)))
    return course_to_elements(loaded.course)


async def provision_schools(
    db: Database,
    box: SecretBox,
    *,
    bot_count: int,
    course_source: str,
    bots_per_account: int = 10,
    first_telegram_id: int = TELEGRAM_ID_BASE,
) -> list[SchoolBot]:
    """`bot_count` bots in accounts of `bots_per_account`, each deploying the course (one
    version per account) with a public token."""
    elements = course_elements(course_source, "benchmark course")
    checksum = hashlib.sha256(course_source.encode()).hexdigest()
    made: list[SchoolBot] = []
    for first in range(0, bot_count, bots_per_account):
        async with db.system() as session:
            account = await system.create_account(
                session, slug=f"bench-{secrets.token_hex(6)}", name="Bench school", plan="unlimited"
            )
            account_id = account.id
            await members.add(
                session, account_id, telegram_user_id=first_telegram_id + first, role="owner"
            )
            course = await courses.create(session, account_id, title="Bench", slug="bench")
            version = await courses.add_version(
                session,
                account_id,
                course.id,
                source_text=course_source,
                source_format="yaml",
                elements=elements,
                checksum=checksum,
            )
            for index in range(first, min(first + bots_per_account, bot_count)):
                telegram_id = first_telegram_id + index
                row = await bots.create(
                    session,
                    account_id,
                    token=Secret(bot_token(telegram_id)),
                    box=box,
                    telegram_id=telegram_id,
                    username=f"bench{telegram_id}_bot",
                )
                deployment = await deployments.create(
                    session,
                    account_id,
                    course_version_id=version.id,
                    bot_id=row.id,
                    environment="prod",
                )
                token = await tokens.create(
                    session, account_id, deployment_id=deployment.id, kind="public"
                )
                made.append(
                    SchoolBot(
                        account_id,
                        row.id,
                        telegram_id,
                        version.id,
                        deployment.id,
                        build_start_payload(deployment.id, token.token),
                    )
                )
    return made


async def insert_idle_bots(
    owner_url: str,
    box: SecretBox,
    count: int,
    *,
    bots_per_account: int = 100,
    first_telegram_id: int = TELEGRAM_ID_BASE,
) -> list[int]:
    """`count` active polling bots with encrypted tokens, straight into the tables; returns
    their Telegram ids (the number before the colon of each token)."""
    engine = create_async_engine(owner_url, poolclass=NullPool)
    telegram_ids = [first_telegram_id + i for i in range(count)]
    try:
        async with engine.begin() as conn:
            account_ids = []
            for _ in range(0, count, bots_per_account):
                account_id = await conn.scalar(
                    insert(Account)
                    .values(slug=f"idle-{secrets.token_hex(6)}", name="Idle school")
                    .returning(Account.id)
                )
                account_ids.append(account_id)
            rows = []
            for index, telegram_id in enumerate(telegram_ids):
                token = bot_token(telegram_id)
                rows.append(
                    {
                        "account_id": account_ids[index // bots_per_account],
                        "token_ciphertext": box.encrypt(token),
                        "token_hash": token_hash(token),
                        "telegram_id": telegram_id,
                        "username": f"idle{telegram_id}_bot",
                        "webhook_secret_ciphertext": box.encrypt(new_webhook_secret()),
                        "public_id": new_public_id(),
                    }
                )
            await conn.execute(insert(Bot), rows)
    finally:
        await engine.dispose()
    return telegram_ids
