"""Encryption at rest for bot tokens, webhook secrets and payment credentials.

Fernet (AES-128-CBC + HMAC-SHA256) keyed by COURSEBOT_SECRET_KEY. The variable may hold several
comma-separated keys: the first encrypts, all decrypt, so a key can be rotated without a
flag day. In production a missing key stops the process at start-up; in development a key is
generated once into the data folder (mode 0600) so `coursebot up` works with zero set-up and
still finds its bots after a restart.

Decrypted values come back wrapped in `Secret`, whose repr/str is `***`: a secret that ends up
in a log line, a traceback or an f-string shows stars, and only `.reveal()` gives the value.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

DEV_KEY_FILE = "secret.key"
_GENERATE_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class SecretKeyError(RuntimeError):
    """The secret key is missing or malformed: a start-up error, never a per-request one."""


class DecryptionError(RuntimeError):
    """Stored ciphertext does not open with the configured key(s)."""


class Secret:
    """A string that refuses to be printed. Compare with `==` (constant time)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


class SecretBox:
    """Encrypts and decrypts short strings with the process's secret key(s)."""

    __slots__ = ("_fernet", "_primary")

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no secret key given; " + _GENERATE_HINT)
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:
            raise SecretKeyError(
                "COURSEBOT_SECRET_KEY must be a Fernet key (32 url-safe base64-encoded bytes, "
                "comma-separated for rotation); " + _GENERATE_HINT
            ) from exc
        self._primary = keys[0]

    @classmethod
    def from_key_string(cls, raw: str) -> SecretBox:
        return cls([part.strip().encode() for part in raw.split(",") if part.strip()])

    def encrypt(self, plaintext: str | Secret) -> str:
        value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> Secret:
        try:
            return Secret(self._fernet.decrypt(ciphertext.encode("ascii")).decode())
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(
                "stored secret cannot be decrypted: COURSEBOT_SECRET_KEY differs from the key "
                "it was encrypted with (keep the old key after the new one to rotate)"
            ) from exc

    def derive(self, purpose: str) -> Secret:
        """A stable secret for `purpose` (e.g. the app role's DB password), tied to the key."""
        digest = hmac.new(self._primary, purpose.encode(), hashlib.sha256).hexdigest()
        return Secret(digest)

    def __repr__(self) -> str:
        return "SecretBox(***)"


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def token_hash(token: str | Secret) -> str:
    """SHA-256 hex of a token: lets us find a bot/API key by its token without storing it."""
    value = token.reveal() if isinstance(token, Secret) else token
    return hashlib.sha256(value.encode()).hexdigest()


class KeySettings(Protocol):
    """The settings a process's SecretBox comes from (`storage.config.Settings` has them;
    named here because the settings hold `Secret`s, so crypto sits below config)."""

    @property
    def secret_key(self) -> str | None: ...

    @property
    def production(self) -> bool: ...

    @property
    def data_dir(self) -> Path: ...


def load_secret_box(settings: KeySettings) -> SecretBox:
    """The process's SecretBox: from COURSEBOT_SECRET_KEY, or the dev key file outside prod."""
    if settings.secret_key:
        return SecretBox.from_key_string(settings.secret_key)
    if settings.production:
        raise SecretKeyError(
            "COURSEBOT_SECRET_KEY is not set and COURSEBOT_PRODUCTION=1: refusing to start, "
            "bot tokens could not be decrypted after a restart; " + _GENERATE_HINT
        )
    return SecretBox.from_key_string(_dev_key(settings.data_dir))


def _dev_key(data_dir: Path) -> str:
    path = data_dir / DEV_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written aside then hard-linked into place: two processes starting together both end up
    # with the same key, and nobody ever reads a half-written file.
    tmp = data_dir / f".{DEV_KEY_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_key() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    else:
        log.warning(
            "COURSEBOT_SECRET_KEY is not set: generated a development key in %s "
            "(set COURSEBOT_SECRET_KEY and COURSEBOT_PRODUCTION=1 in production)",
            path,
        )
    finally:
        tmp.unlink()
    return path.read_text().strip()
