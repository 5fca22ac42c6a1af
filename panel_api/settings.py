"""The panel's part of the settings: who can log in, for how long, and as what.

Read from `storage.config.Settings` (the one place the environment is read). Kept as its own
small object because only the panel uses it, and because the login bot token is a secret that
must never reach a repr or a log line (it is held as `Secret`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botapi.tokens import is_bot_token
from storage.config import (
    DEFAULT_LOGIN_MAX_AGE_S,
    DEFAULT_MAX_ACCOUNTS_PER_USER,
    DEFAULT_SESSION_MAX_AGE_S,
    Settings,
    SettingsError,
)
from storage.crypto import Secret

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


class PanelSettingsError(SettingsError):
    """A panel setting is malformed: reported at start-up, naming the variable."""


@dataclass(frozen=True)
class PanelSettings:
    """Who can log in, for how long, and as what."""

    login_bot_token: Secret | None = field(default=None, repr=False)
    superadmins: frozenset[int] = frozenset()
    login_max_age_s: int = DEFAULT_LOGIN_MAX_AGE_S
    session_max_age_s: int = DEFAULT_SESSION_MAX_AGE_S
    cookie_secure: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_accounts_per_user: int = DEFAULT_MAX_ACCOUNTS_PER_USER

    @property
    def login_bot_id(self) -> int | None:
        """The login bot's Telegram id (the public part of its token), which the login page
        hands to Telegram's login window."""
        if self.login_bot_token is None:
            return None
        return int(self.login_bot_token.reveal().split(":", 1)[0])

    @classmethod
    def from_settings(cls, settings: Settings) -> PanelSettings:
        token = settings.login_bot_token
        if token is not None and not is_bot_token(token.reveal()):
            # The value is a secret: say what is wrong with it, never echo it.
            raise PanelSettingsError(
                "COURSEBOT_LOGIN_BOT_TOKEN must be a bot token from @BotFather, like 123456:AAE..."
            )
        return cls(
            login_bot_token=token,
            superadmins=settings.superadmins,
            login_max_age_s=settings.login_max_age_s,
            session_max_age_s=settings.session_max_age_s,
            cookie_secure=settings.secure_cookies,
            max_accounts_per_user=settings.max_accounts_per_user,
        )
