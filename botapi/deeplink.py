"""Enrollment deep links: `https://t.me/<bot>?start=cd_<deploymentId>_<token>`.

The `/start` payload is typed by whoever crafted the link, so it is hostile input: we accept
exactly one shape and return None for everything else instead of guessing. Telegram itself
limits payloads to 64 chars of `[A-Za-z0-9_-]`; our components (≤ 18-digit id, ≤ 32-char
token) keep a payload at ≤ 54 chars, so every link we build is one Telegram will deliver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "cd_"
MAX_PAYLOAD_LENGTH = 64
MAX_TOKEN_LENGTH = 32
MAX_DEPLOYMENT_ID_DIGITS = 18

# `fullmatch` everywhere: `$` would accept a trailing newline.
_PAYLOAD = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_PAYLOAD_LENGTH}}}")
_DEPLOYMENT_ID = re.compile(rf"[1-9][0-9]{{0,{MAX_DEPLOYMENT_ID_DIGITS - 1}}}")
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_TOKEN_LENGTH}}}")
# Telegram usernames: 5-32 chars, start with a letter.
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


@dataclass(frozen=True)
class DeepLink:
    """A syntactically valid enrollment payload; whether it grants access is storage's call."""

    deployment_id: int
    token: str


def parse_start_payload(payload: str | None) -> DeepLink | None:
    """Parse a `/start` payload, or None when it is not exactly `cd_<id>_<token>`.

    Splits on the first two underscores only: tokens are url-safe and may contain `_`.
    """
    if not isinstance(payload, str) or not _PAYLOAD.fullmatch(payload):
        return None
    if not payload.startswith(PREFIX):
        return None
    raw_id, sep, token = payload[len(PREFIX) :].partition("_")
    if not sep or not _DEPLOYMENT_ID.fullmatch(raw_id) or not _TOKEN.fullmatch(token):
        return None
    return DeepLink(deployment_id=int(raw_id), token=token)


def build_start_payload(deployment_id: int, token: str) -> str:
    """The payload for one deployment and token; ValueError if Telegram could not carry it."""
    if isinstance(deployment_id, bool) or not isinstance(deployment_id, int):
        raise ValueError("deployment id must be an integer")
    if not _DEPLOYMENT_ID.fullmatch(str(deployment_id)):
        raise ValueError(
            f"deployment id must be a positive integer of at most {MAX_DEPLOYMENT_ID_DIGITS} digits"
        )
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValueError(f"token must be 1-{MAX_TOKEN_LENGTH} characters of [A-Za-z0-9_-]")
    return f"{PREFIX}{deployment_id}_{token}"


def build_start_link(bot_username: str, deployment_id: int, token: str) -> str:
    """`https://t.me/<bot>?start=cd_<id>_<token>`; ValueError on a bad username or payload."""
    username = bot_username.removeprefix("@") if isinstance(bot_username, str) else ""
    if not _USERNAME.fullmatch(username):
        raise ValueError("bot username must be 5-32 characters of [A-Za-z0-9_], starting a letter")
    return f"https://t.me/{username}?start={build_start_payload(deployment_id, token)}"
