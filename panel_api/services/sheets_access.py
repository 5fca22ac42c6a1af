"""The account's Google service account key: validated, stored encrypted, turned into a
gspread client whose every request (token exchange and Sheets API) goes through the guarded
outbound client (DESIGN §10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import gspread
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account
from requests import Session
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import SecretBox
from storage.models import Account
from storage.outbound import GuardedAdapter, OutboundClient, guard
from storage.repositories import accounts

REQUIRED_KEYS = ("type", "client_email", "private_key", "token_uri")
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
# Older key files name the older endpoint; both are Google's.
GOOGLE_TOKEN_URIS = frozenset({GOOGLE_TOKEN_URI, "https://accounts.google.com/o/oauth2/token"})
SHEETS_TIMEOUT_S = 30.0
SHEETS_MAX_BYTES = 8 * 1024 * 1024  # the values of a sheet big enough for a 1 MiB course


def check_service_account(info: Mapping[str, Any]) -> str:
    """The key's client_email if it is a usable service account key; ValueError otherwise."""
    missing = [key for key in REQUIRED_KEYS if not isinstance(info.get(key), str)]
    if missing:
        raise ValueError(f"not a service account key file: missing {', '.join(missing)}")
    if info["type"] != "service_account":
        raise ValueError(f"expected a key of type service_account, got {info['type']!r}")
    check_token_uri(info)
    try:
        service_account.Credentials.from_service_account_info(dict(info))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the service account key does not load: {exc}") from None
    return str(info["client_email"])


def check_token_uri(info: Mapping[str, Any]) -> None:
    """Google's token endpoint or ValueError: the key's token_uri is where the signed sign-in
    request goes, so any other address would make this server post to a place of the
    tenant's choosing. Checked at upload and again before each import (older keys)."""
    if info.get("token_uri") not in GOOGLE_TOKEN_URIS:
        raise ValueError(
            f"the key's token_uri must be Google's token endpoint ({GOOGLE_TOKEN_URI}), "
            "as in the key file Google Cloud gives you"
        )


def guarded_sheets_client(info: Mapping[str, Any], outbound: OutboundClient) -> gspread.Client:
    """A read-only gspread client signed in as the service account. Build it on the event
    loop and use it in a worker thread: its requests are sent on this loop. The token goes
    to Google's endpoint whatever the key names."""
    credentials = service_account.Credentials.from_service_account_info(
        {**info, "token_uri": GOOGLE_TOKEN_URI}, scopes=gspread.auth.READONLY_SCOPES
    )
    adapter = GuardedAdapter(
        outbound,
        asyncio.get_running_loop(),
        timeout_s=SHEETS_TIMEOUT_S,
        max_bytes=SHEETS_MAX_BYTES,
        json_only=True,  # Google's APIs answer JSON, errors included
    )
    token_session = guard(Session(), adapter)
    session = guard(AuthorizedSession(credentials, auth_request=Request(token_session)), adapter)
    # gspread types `auth` as required; the authorized session carries it instead.
    return gspread.Client(auth=None, session=session)  # type: ignore[arg-type]


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
