"""Panel-only settings, read from the environment next to `storage.config.Settings`.

Kept apart from the shared Settings because only the panel reads them, and because the login
bot token is a secret that must never reach a repr or a log line (it is held as `Secret`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from storage.crypto import Secret

DEFAULT_LOGIN_MAX_AGE_S = 24 * 3600
DEFAULT_SESSION_MAX_AGE_S = 7 * 24 * 3600
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


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

    @classmethod
    def from_env(cls, *, production: bool = False) -> PanelSettings:
        token = os.environ.get("COURSEBOT_LOGIN_BOT_TOKEN", "").strip()
        return cls(
            login_bot_token=Secret(token) if token else None,
            superadmins=parse_superadmins(os.environ.get("COURSEBOT_SUPERADMINS", "")),
            login_max_age_s=_positive_int("COURSEBOT_LOGIN_MAX_AGE", DEFAULT_LOGIN_MAX_AGE_S),
            session_max_age_s=_positive_int("COURSEBOT_SESSION_MAX_AGE", DEFAULT_SESSION_MAX_AGE_S),
            # Outside production the panel is usually plain http://localhost, where a Secure
            # cookie would never come back; in production it is behind HTTPS.
            cookie_secure=_bool("COURSEBOT_COOKIE_SECURE", production),
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


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) <= 0:
        raise PanelSettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
    return int(raw)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}
