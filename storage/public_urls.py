"""Addresses coursebot hands to outside services, built from its public base URL.

The payments router (adapters/payments/webhook.py) serves the path and the panel shows the
whole URL to the account owner, so both read it here.
"""

from __future__ import annotations

YOOKASSA_NOTIFICATION_PATH = "/payments/yookassa/{account_id}"


def notification_url(public_base_url: str, account_id: int, prefix: str = "/api/v1") -> str:
    """What the account owner pastes into YooKassa's HTTP-notifications settings."""
    path = prefix + YOOKASSA_NOTIFICATION_PATH.format(account_id=account_id)
    return public_base_url.rstrip("/") + path
