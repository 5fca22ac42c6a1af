"""Verification of Telegram Login Widget data, written here rather than taken from aiogram.

aiogram's helper compares hashes with `==` (a timing side channel) and ignores `auth_date`, so
a signed payload captured once would log its owner in forever. Here: the data-check string is
every received field except `hash`, sorted, as `key=value` lines; the key is SHA-256 of the
login bot's token; the HMAC-SHA256 is compared in constant time; and `auth_date` must be
recent (and not in the future beyond a small clock skew). That each signed login is used only
once is the caller's job (it needs storage): `TelegramIdentity.signature` names the login.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.crypto import Secret

CLOCK_SKEW = timedelta(seconds=60)


class LoginError(ValueError):
    """The widget data is not a valid, fresh Telegram login (the message says why)."""


@dataclass(frozen=True)
class TelegramIdentity:
    """`signature`: the login's HMAC in canonical form (what makes this login unique);
    `signed_at`: its `auth_date`."""

    id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    signature: str
    signed_at: datetime


def data_check_string(fields: Mapping[str, object]) -> str:
    """Telegram's canonical form of the signed fields (absent/None values are not sent)."""
    lines = [
        f"{key}={_text(value)}"
        for key, value in sorted(fields.items())
        if key != "hash" and value is not None
    ]
    return "\n".join(lines)


def widget_hash(fields: Mapping[str, object], bot_token: Secret) -> str:
    """The hex HMAC Telegram puts in `hash` for these fields (tests use it to sign data)."""
    key = hashlib.sha256(bot_token.reveal().encode()).digest()
    return hmac.new(key, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify_login(
    fields: Mapping[str, object], bot_token: Secret, *, max_age: timedelta, now: datetime
) -> TelegramIdentity:
    """The identity the widget vouches for; LoginError if the data is forged or stale."""
    given = fields.get("hash")
    if not isinstance(given, str) or not given:
        raise LoginError("the login data has no hash")
    expected = widget_hash(fields, bot_token)
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise LoginError("the login data signature does not match")
    auth_date = _int(fields.get("auth_date"), "auth_date")
    signed_at = datetime.fromtimestamp(auth_date, tz=now.tzinfo)
    if now - signed_at > max_age:
        raise LoginError("the login data has expired; log in again")
    if signed_at - now > CLOCK_SKEW:
        raise LoginError("the login data is dated in the future")
    user_id = _int(fields.get("id"), "id")
    if user_id <= 0:
        raise LoginError("the login data has no valid user id")
    return TelegramIdentity(
        id=user_id,
        username=_opt_text(fields.get("username")),
        first_name=_opt_text(fields.get("first_name")),
        last_name=_opt_text(fields.get("last_name")),
        signature=expected,
        signed_at=signed_at,
    )


def _text(value: object) -> str:
    if isinstance(value, bool):  # JSON true would otherwise sign as "True"
        return "true" if value else "false"
    return str(value)


def _int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise LoginError(f"the login data has an invalid {name}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise LoginError(f"the login data has an invalid {name}")


def _opt_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
