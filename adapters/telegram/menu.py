"""Each bot's command menu (`setMyCommands`), registered when its runtime starts.

Telegram shows a student the menu of their app's language (Russian or English here) and
the default one to everyone else; the default is in the account owner's panel language
(Russian when they have not chosen one, as the bot's own texts are). A restart must not
call Telegram for every bot again: the digest of the menus sent is kept on the bot row,
and they are sent again only when they changed (new texts, another default language).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

import orjson
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import SetMyCommands
from aiogram.types import BotCommand
from sqlalchemy.exc import SQLAlchemyError

from runtime.commands import MENU_LANGUAGES, menu
from runtime.hosted_bot import HostedBot
from storage.db import Database
from storage.repositories import bots

log = logging.getLogger(__name__)


def menus(default_language: str) -> dict[str, list[tuple[str, str]]]:
    """Language code ("" for the default menu) -> the menu Telegram should show."""
    return {"": menu(default_language), **{lang: menu(lang) for lang in MENU_LANGUAGES}}


def digest(wanted: dict[str, list[tuple[str, str]]]) -> str:
    return hashlib.sha256(orjson.dumps(wanted, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def register_menu(
    bot: Bot, db: Database, hosted: HostedBot, db_slots: asyncio.Semaphore
) -> None:
    """Send the bot's menus to Telegram unless they are registered already. A failure is
    logged and left for the bot's next start: the commands work typed, with or without
    the menu. `db_slots` (the process's database-lane sessions) keeps a thousand bots
    starting at once from asking for a thousand connections."""
    try:
        async with db_slots, db.tenant(hosted.account_id) as session:
            stored, owner_language = await bots.menu_state(
                session, hosted.account_id, hosted.bot_id
            )
        default = owner_language if owner_language in MENU_LANGUAGES else "ru"
        wanted = menus(default)
        wanted_digest = digest(wanted)
        if stored == wanted_digest:
            return
        for language, commands in wanted.items():
            await bot(
                SetMyCommands(
                    commands=[BotCommand(command=c, description=d) for c, d in commands],
                    language_code=language or None,
                )
            )
        async with db_slots, db.tenant(hosted.account_id) as session:
            await bots.remember_menu(session, hosted.account_id, hosted.bot_id, wanted_digest)
    except (TelegramAPIError, SQLAlchemyError, OSError) as exc:
        log.warning("bot %s: command menu not registered: %s", hosted.bot_id, exc)
