"""YooKassa API v3 over httpx, with the shop's credentials passed on EVERY call.

Why not the official SDK: its `Configuration` is process-global class state (shop id and
secret key are class attributes) and its calls are synchronous. One process hosts many
accounts, each with its own shop; with the SDK, two concurrent requests of two accounts would
race on that global and a payment could be created in (or verified against) the wrong shop.
Here a `ShopCredentials` value travels with each request as its own HTTP Basic auth, and one
`httpx.AsyncClient` pool is shared by all shops without sharing any identity.

Retries reuse the caller's idempotence key, which is what makes them safe: YooKassa answers
a repeated request with the same key and body with the payment it already created.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from storage.crypto import Secret

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.yookassa.ru/v3"
# YooKassa ids are UUID-like; anything else must never be pasted into a request path.
_OBJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# 202 means "still processing, ask again with the same key"; 429/5xx are transient.
_RETRY_STATUSES = frozenset({202, 429, 500, 502, 503, 504})


class YooKassaError(Exception):
    """Base class: the request did not give a usable answer."""


class YooKassaUnavailable(YooKassaError):
    """Network failure, timeout or 5xx after the retries: try again later."""


class YooKassaRejected(YooKassaError):
    """A definite refusal (4xx other than 404): retrying the same request will not help."""

    def __init__(self, status: int, code: str | None, description: str | None) -> None:
        super().__init__(f"YooKassa refused the request: HTTP {status} {code or ''}".strip())
        self.status = status
        self.code = code
        self.description = description


class YooKassaInvalidCredentials(YooKassaRejected):
    """401: the shop id / secret key pair is wrong (or the key was revoked)."""


class YooKassaNotFound(YooKassaError):
    """404: no such object in THIS shop (another shop's payment looks exactly like this)."""


@dataclass(frozen=True)
class ShopCredentials:
    """One account's shop. The secret stays a `Secret`, so printing this shows stars."""

    shop_id: str
    secret_key: Secret = field(repr=False)

    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.shop_id, self.secret_key.reveal())


def check_object_id(object_id: object) -> str:
    if not isinstance(object_id, str) or not _OBJECT_ID.fullmatch(object_id):
        raise ValueError("not a YooKassa object id")
    return object_id


class YooKassaClient:
    """Async YooKassa REST client; stateless about shops, so safe to share between accounts."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 0.3,
    ) -> None:
        self.base_url = (base_url or DEFAULT_API_BASE).rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s

    async def create_payment(
        self, shop: ShopCredentials, idempotence_key: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._request("POST", "/payments", shop, body, idempotence_key)

    async def get_payment(self, shop: ShopCredentials, payment_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/payments/{check_object_id(payment_id)}", shop)

    async def me(self, shop: ShopCredentials) -> dict[str, Any]:
        """The shop's own settings: a cheap way to check a pair of credentials."""
        return await self._request("GET", "/me", shop)

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        shop: ShopCredentials,
        body: dict[str, Any] | None = None,
        idempotence_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotence-Key": idempotence_key} if idempotence_key else {}
        url = self.base_url + path
        last_problem = "no attempt made"
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._http.request(
                    method, url, json=body, headers=headers, auth=shop.auth()
                )
            except httpx.HTTPError as exc:
                last_problem = type(exc).__name__
                continue
            if response.status_code in _RETRY_STATUSES:
                last_problem = f"HTTP {response.status_code}"
                continue
            return _parse(response)
        log.warning("YooKassa %s %s failed: %s", method, path, last_problem)
        raise YooKassaUnavailable(f"YooKassa is unavailable ({last_problem})")


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 200 and isinstance(data, dict):
        return data
    if response.status_code == 200:
        raise YooKassaUnavailable("YooKassa answered 200 without a JSON object")
    code = data.get("code") if isinstance(data, dict) else None
    description = data.get("description") if isinstance(data, dict) else None
    if response.status_code == 404:
        raise YooKassaNotFound(description or "not found")
    if response.status_code == 401:
        raise YooKassaInvalidCredentials(401, code, description)
    raise YooKassaRejected(response.status_code, code, description)
