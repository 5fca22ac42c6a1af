"""Checking a bot token with Telegram's getMe, through TELEGRAM_API_BASE when it is set.

A real aiogram Bot makes the call, so the panel accepts exactly the tokens the runtime will
be able to use. Only a token of the form @BotFather hands out is ever sent (botapi/
tokens.py). The token itself never appears in an error: Telegram's reason does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
)

from botapi.bot_factory import make_bot
from botapi.tokens import MALFORMED_TOKEN, is_bot_token
from storage.crypto import Secret

log = logging.getLogger(__name__)
GET_ME_TIMEOUT_S = 15


@dataclass(frozen=True)
class BotIdentity:
    telegram_id: int
    username: str


class BotTokenRejected(ValueError):
    """The token cannot be used: its format or Telegram says no, or Telegram's answer made
    no sense; `reason` is safe to show the user, `kind` says which of these it was
    (malformed, refused, unreadable, not_a_bot) for words in the reader's language."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class TelegramUnavailable(RuntimeError):
    """Telegram could not be asked (network, 5xx): try again later."""


async def check_bot_token(token: Secret, api_base: str | None) -> BotIdentity:
    if not is_bot_token(token.reveal()):
        raise BotTokenRejected(MALFORMED_TOKEN, "malformed")
    bot = make_bot(token.reveal(), api_base)
    try:
        me = await bot.get_me(request_timeout=GET_ME_TIMEOUT_S)
    except (TelegramNetworkError, TelegramServerError) as exc:
        log.warning("getMe failed: %s", type(exc).__name__)
        raise TelegramUnavailable("Telegram did not answer; try again in a minute") from None
    except TelegramAPIError as exc:
        raise BotTokenRejected(f"Telegram rejected the token: {exc.message}", "refused") from None
    except ClientDecodeError:
        # Not Telegram's JSON (a proxy's HTML page, say): its text is never passed on.
        log.warning("getMe answered something other than the Bot API's JSON")
        raise BotTokenRejected(
            "Telegram's answer could not be read, so the token could not be checked; "
            "try again later",
            "unreadable",
        ) from None
    finally:
        await bot.session.close()
    if not me.is_bot or not me.username:
        raise BotTokenRejected("Telegram says this token does not belong to a bot", "not_a_bot")
    return BotIdentity(telegram_id=me.id, username=me.username)
