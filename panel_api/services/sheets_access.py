"""The account's Google service account key: validated, stored encrypted, read for imports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.oauth2 import service_account
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import SecretBox
from storage.models import Account
from storage.repositories import accounts

REQUIRED_KEYS = ("type", "client_email", "private_key", "token_uri")


def check_service_account(info: Mapping[str, Any]) -> str:
    """The key's client_email if it is a usable service account key; ValueError otherwise."""
    missing = [key for key in REQUIRED_KEYS if not isinstance(info.get(key), str)]
    if missing:
        raise ValueError(f"not a service account key file: missing {', '.join(missing)}")
    if info["type"] != "service_account":
        raise ValueError(f"expected a key of type service_account, got {info['type']!r}")
    try:
        service_account.Credentials.from_service_account_info(dict(info))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the service account key does not load: {exc}") from None
    return str(info["client_email"])


async def save_credentials(
    session: AsyncSession, account_id: int, info: Mapping[str, Any] | None, box: SecretBox
) -> None:
    ciphertext = None if info is None else box.encrypt(json.dumps(dict(info)))
    await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(sheets_credentials_ciphertext=ciphertext)
    )


async def load_credentials(
    session: AsyncSession, account_id: int, box: SecretBox
) -> dict[str, Any] | None:
    account = await accounts.get(session, account_id)
    if account is None or account.sheets_credentials_ciphertext is None:
        return None
    return json.loads(box.decrypt(account.sheets_credentials_ciphertext).reveal())
