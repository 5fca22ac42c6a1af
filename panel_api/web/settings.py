"""Settings only the web pages read (the API's live in panel_api.settings)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


@dataclass(frozen=True)
class WebSettings:
    """`login_bot_username`: the bot of COURSEBOT_LOGIN_BOT_TOKEN, which the Login Widget
    must name (Telegram shows it to the person logging in)."""

    login_bot_username: str | None = None

    @classmethod
    def from_env(cls) -> WebSettings:
        raw = os.environ.get("COURSEBOT_LOGIN_BOT_USERNAME", "").strip().removeprefix("@")
        if raw and not _BOT_USERNAME.fullmatch(raw):
            raise ValueError(
                f"COURSEBOT_LOGIN_BOT_USERNAME must be a bot username like school_bot, got {raw!r}"
            )
        return cls(login_bot_username=raw or None)
