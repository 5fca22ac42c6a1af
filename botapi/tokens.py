"""What a Telegram bot token looks like: the one rule, for tokens people type and set.

The bot's number, a colon, and the secret @BotFather made. A token travels into the path of
every Bot API request, so nothing else (a `/`, `?` or `#`) may ever pass for one.
"""

from __future__ import annotations

import re

_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{30,}")
MALFORMED_TOKEN = (
    "this is not a bot token: @BotFather gives one like 123456789:AAF..., the bot's number, "
    "a colon and at least 30 letters, digits, - or _"
)


def is_bot_token(text: str) -> bool:
    return _BOT_TOKEN.fullmatch(text) is not None
