"""Panel-only settings, read from the environment next to `storage.config.Settings`.

Kept apart from the shared Settings because only the panel reads them, and because the login
bot token is a secret that must never reach a repr or a log line (it is held as `Secret`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from botapi.tokens import is_bot_token
from storage.crypto import Secret

DEFAULT_LOGIN_MAX_AGE_S = 24 * 3600
DEFAULT_SESSION_MAX_AGE_S = 7 * 24 * 3600
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
# A school, its sandbox and one more project; more is what the limit is there to stop (every
# account gets the free plan's bots and students anew). Operators raise it for their users.
DEFAULT_MAX_ACCOUNTS_PER_USER = 3


class PanelSettingsError(ValueError):
    """A panel environment variable is malformed: reported at start-up, naming the variable."""


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
    def from_env(cls, *, production: bool = False) -> PanelSettings:
        return cls(
            login_bot_token=_bot_token("COURSEBOT_LOGIN_BOT_TOKEN"),
            superadmins=parse_superadmins(os.environ.get("COURSEBOT_SUPERADMINS", "")),
            login_max_age_s=_positive_int("COURSEBOT_LOGIN_MAX_AGE", DEFAULT_LOGIN_MAX_AGE_S),
            session_max_age_s=_positive_int("COURSEBOT_SESSION_MAX_AGE", DEFAULT_SESSION_MAX_AGE_S),
            # Outside production the panel is usually plain http://localhost, where a Secure
            # cookie would never come back; in production it is behind HTTPS.
            cookie_secure=_bool("COURSEBOT_COOKIE_SECURE", production),
            max_accounts_per_user=_positive_int(
                "COURSEBOT_MAX_ACCOUNTS_PER_USER", DEFAULT_MAX_ACCOUNTS_PER_USER, unit="accounts"
            ),
        )


def parse_superadmins(raw: str) -> frozenset[int]:
    """`"123, 456"` -> {123, 456}; anything but positive integers is a start-up error."""
    ids: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isascii() or not part.isdigit() or int(part) <= 0:
            raise PanelSettingsError(
                f"COURSEBOT_SUPERADMINS must be comma-separated Telegram user ids, got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _bot_token(name: str) -> Secret | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not is_bot_token(raw):
        # The value is a secret: say what is wrong with it, never echo it.
        raise PanelSettingsError(f"{name} must be a bot token from @BotFather, like 123456:AAE...")
    return Secret(raw)


def _positive_int(name: str, default: int, *, unit: str = "seconds") -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) <= 0:
        raise PanelSettingsError(f"{name} must be a positive number of {unit}, got {raw!r}")
    return int(raw)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}
