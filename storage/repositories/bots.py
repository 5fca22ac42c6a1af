"""Connected Telegram bots. Tokens go in encrypted and come out only as `Secret`.

The bot pool and webhook routing read across accounts: see `storage.system`.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, SecretBox, token_hash
from storage.models import AccountMember, Bot, BotMode, MemberRole
from storage.repositories._common import (
    UNSET,
    Unset,
    get_scoped,
    given,
    update_scoped,
)


def new_public_id() -> str:
    """Opaque id for webhook URLs: never the token, never guessable from the bot id."""
    return secrets.token_urlsafe(16)


def new_webhook_secret() -> Secret:
    """Value for X-Telegram-Bot-Api-Secret-Token (Telegram allows 1-256 of [A-Za-z0-9_-])."""
    return Secret(secrets.token_urlsafe(32))


async def create(
    session: AsyncSession,
    account_id: int,
    *,
    token: Secret,
    box: SecretBox,
    telegram_id: int,
    username: str,
    mode: BotMode | str = BotMode.POLLING,
    active: bool = True,
) -> Bot:
    """Store a bot checked with getMe. A webhook secret is made up front, whatever the mode."""
    bot = Bot(
        account_id=account_id,
        token_ciphertext=box.encrypt(token),
        token_hash=token_hash(token),
        telegram_id=telegram_id,
        username=username,
        mode=BotMode(mode).value,
        webhook_secret_ciphertext=box.encrypt(new_webhook_secret()),
        public_id=new_public_id(),
        active=active,
    )
    session.add(bot)
    await session.flush()
    return bot


async def get(session: AsyncSession, account_id: int, bot_id: int) -> Bot | None:
    return await get_scoped(session, Bot, account_id, Bot.id == bot_id)


async def get_by_token(session: AsyncSession, account_id: int, token: Secret) -> Bot | None:
    """The account's bot with this token (the ProfoChatBot import finds bots it made)."""
    return await get_scoped(session, Bot, account_id, Bot.token_hash == token_hash(token))


async def list_all(session: AsyncSession, account_id: int) -> list[Bot]:
    stmt = select(Bot).where(Bot.account_id == account_id).order_by(Bot.id)
    return list((await session.scalars(stmt)).all())


async def menu_state(
    session: AsyncSession, account_id: int, bot_id: int
) -> tuple[str | None, str | None]:
    """(digest of the command menu last registered for the bot, or None; the panel language
    of the account's first owner, or None): what deciding the bot's menu needs."""
    digest = await session.scalar(
        select(Bot.commands_hash).where(Bot.account_id == account_id, Bot.id == bot_id)
    )
    language = await session.scalar(
        select(AccountMember.ui_language)
        .where(AccountMember.account_id == account_id, AccountMember.role == MemberRole.OWNER)
        .order_by(AccountMember.id)
        .limit(1)
    )
    return digest, language


async def remember_menu(session: AsyncSession, account_id: int, bot_id: int, digest: str) -> None:
    """Record that the bot's command menu is registered as `digest` says."""
    await session.execute(
        update(Bot)
        .where(Bot.account_id == account_id, Bot.id == bot_id)
        .values(commands_hash=digest)
    )


async def update_bot(
    session: AsyncSession,
    account_id: int,
    bot_id: int,
    *,
    username: str | Unset = UNSET,
    mode: BotMode | str | Unset = UNSET,
    active: bool | Unset = UNSET,
    default_deployment_id: int | Unset | None = UNSET,
) -> Bot | None:
    if mode is not UNSET:
        mode = BotMode(mode).value
    values = given(
        username=username, mode=mode, active=active, default_deployment_id=default_deployment_id
    )
    return await update_scoped(session, Bot, account_id, bot_id, values)


async def replace_token(
    session: AsyncSession, account_id: int, bot_id: int, *, token: Secret, box: SecretBox
) -> Bot | None:
    """After /revoke in BotFather: same bot (telegram_id), new token."""
    values = {"token_ciphertext": box.encrypt(token), "token_hash": token_hash(token)}
    return await update_scoped(session, Bot, account_id, bot_id, values)
