"""Checking a bot token with Telegram's getMe, through TELEGRAM_API_BASE when it is set.

A real aiogram Bot makes the call, so the panel accepts exactly the tokens the runtime will
be able to use. The token itself never appears in an error: Telegram's reason does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramServerError
from aiogram.utils.token import TokenValidationError

from adapters.telegram.bot_factory import make_bot
from storage.crypto import Secret

log = logging.getLogger(__name__)
GET_ME_TIMEOUT_S = 15


@dataclass(frozen=True)
class BotIdentity:
    telegram_id: int
    username: str


class BotTokenRejected(ValueError):
    """Telegram (or the token format) says no; `reason` is safe to show the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TelegramUnavailable(RuntimeError):
    """Telegram could not be asked (network, 5xx): try again later."""


async def check_bot_token(token: Secret, api_base: str | None) -> BotIdentity:
    try:
        bot = make_bot(token.reveal(), api_base)
    except TokenValidationError:
        raise BotTokenRejected(
            "malformed bot token: expected '<bot id>:<secret>' as BotFather shows it"
        ) from None
    try:
        me = await bot.get_me(request_timeout=GET_ME_TIMEOUT_S)
    except (TelegramNetworkError, TelegramServerError) as exc:
        log.warning("getMe failed: %s", type(exc).__name__)
        raise TelegramUnavailable("Telegram did not answer; try again in a minute") from None
    except TelegramAPIError as exc:
        raise BotTokenRejected(f"Telegram rejected the token: {exc.message}") from None
    finally:
        await bot.session.close()
    if not me.is_bot or not me.username:
        raise BotTokenRejected("Telegram says this token does not belong to a bot")
    return BotIdentity(telegram_id=me.id, username=me.username)
