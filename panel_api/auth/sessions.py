"""The panel session cookie: a signed, expiring statement "this is Telegram user N".

A signed cookie rather than a session table: every request re-checks membership and role in
the database anyway, so removing a member takes effect at once without revoking anything; the
cookie only proves who the browser logged in as. The HMAC key is derived from the process's
secret key (rotating COURSEBOT_SECRET_KEY logs everyone out). Logging out clears the cookie;
a copied cookie stays valid until it expires (COURSEBOT_SESSION_MAX_AGE).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.crypto import SecretBox

COOKIE_NAME = "cb_session"
_PURPOSE = "panel-session-cookie"


@dataclass(frozen=True)
class SessionUser:
    telegram_user_id: int
    username: str | None
    expires_at: datetime


class SessionCodec:
    def __init__(self, box: SecretBox, max_age: timedelta) -> None:
        self._key = box.derive(_PURPOSE).reveal().encode()
        self.max_age = max_age

    def encode(self, telegram_user_id: int, username: str | None, now: datetime) -> str:
        expires = int((now + self.max_age).timestamp())
        body = json.dumps({"u": telegram_user_id, "n": username, "e": expires}).encode()
        payload = _b64(body)
        return f"{payload}.{self._sign(payload)}"

    def decode(self, value: str, now: datetime) -> SessionUser | None:
        """The user of a genuine, unexpired cookie; None for anything else."""
        payload, sep, signature = value.partition(".")
        if not sep or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
            user_id, username, expires = data["u"], data["n"], data["e"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not isinstance(user_id, int) or not isinstance(expires, int):
            return None
        expires_at = datetime.fromtimestamp(expires, tz=now.tzinfo)
        if expires_at <= now:
            return None
        return SessionUser(user_id, username if isinstance(username, str) else None, expires_at)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
