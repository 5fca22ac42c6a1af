"""A fake YooKassa API v3: real HTTP, several shops, notifications to real webhook URLs.

Clients point their base URL (YOOKASSA_API_BASE) at `fake.base_url` and talk HTTP as to the
real thing. Where a client could notice, it answers like YooKassa does:
- HTTP Basic auth `shop_id:secret_key`; wrong or missing -> 401 `invalid_credentials`.
- `Idempotence-Key` required on POST; the same key with the same body returns the first
  answer again, the same key with another body -> 400 `invalid_request` (keys are per shop).
- a payment is visible only to the shop that created it: another shop gets 404 `not_found`.
- errors are `{"type": "error", "id", "code", "description", "parameter"}`.
- amounts are strings with at most two decimals; metadata: <= 16 string values.
Test helpers move payments along (`succeed`, `cancel`, `refund`) and, if the shop has a
`webhook_url`, POST `{"type": "notification", "event", "object"}` there and record the answer.
A refund made through the API notifies in the background, as YooKassa does: `await settle()`.

Not emulated: capture/cancel endpoints (payments are created with capture), receipts, payment
methods, 3-D Secure, payouts, deals, 202 "processing" answers.

Usage:
    async with FakeYooKassa() as kassa:
        shop = kassa.add_shop(webhook_url="http://127.0.0.1:8000/api/v1/payments/yookassa/1")
        client = YooKassaClient(kassa.base_url)
        ...
        await kassa.succeed(payment_id)  # notifies shop.webhook_url
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import itertools
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from aiohttp import web

_MONEY = re.compile(r"\d{1,10}(\.\d{1,2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_KEY_LENGTH = 64
_MAX_DESCRIPTION = 128
_MAX_METADATA_KEYS = 16


@dataclass
class Shop:
    shop_id: str
    secret_key: str
    webhook_url: str | None = None

    @property
    def authorization(self) -> str:
        """The `Authorization` header value a correct client sends for this shop."""
        raw = f"{self.shop_id}:{self.secret_key}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorization: str | None
    shop_id: str | None  # the shop the credentials authenticated, None when they did not
    idempotence_key: str | None
    body: Any
    status: int = 0


@dataclass
class NotificationDelivery:
    url: str
    event: str
    object_id: str
    status: int | None  # None when the connection failed


@dataclass
class _Fault:
    status: int | str
    after_commit: bool
    remaining: int


@dataclass
class _Stored:
    shop_id: str
    obj: dict[str, Any]
    refunds: list[str] = field(default_factory=list)


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str, parameter: str | None = None):
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter

    def response(self) -> web.Response:
        body: dict[str, Any] = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self.code,
            "description": self.description,
        }
        if self.parameter:
            body["parameter"] = self.parameter
        return web.json_response(body, status=self.status)


class FakeYooKassa:
    """YooKassa API v3 on 127.0.0.1 with several shops, fault injection and notifications."""

    def __init__(self, *, hang_s: float = 30.0) -> None:
        self.hang_s = hang_s  # how long a "timeout" fault keeps the request open
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[NotificationDelivery] = []
        self._shops: dict[str, Shop] = {}
        self._payments: dict[str, _Stored] = {}
        self._refunds: dict[str, _Stored] = {}
        self._idempotence: dict[tuple[str, str, str], tuple[str, int, dict[str, Any]]] = {}
        self._faults: list[_Fault] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._shop_ids = itertools.count(500_001)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._base_url: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeYooKassa:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/payments", self._create_payment)
        app.router.add_get("/v3/payments/{payment_id}", self._get_payment)
        app.router.add_post("/v3/refunds", self._create_refund)
        app.router.add_get("/v3/refunds/{refund_id}", self._get_refund)
        app.router.add_get("/v3/me", self._me)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}/v3"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        self._closing.set()  # hung "timeout" requests return at once
        await self.settle()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v3`, the value for YOOKASSA_API_BASE."""
        if self._base_url is None:
            raise RuntimeError("FakeYooKassa is not started")
        return self._base_url

    # ---- shops and inspection -------------------------------------------------------------

    def add_shop(
        self,
        shop_id: str | None = None,
        secret_key: str | None = None,
        *,
        webhook_url: str | None = None,
    ) -> Shop:
        shop = Shop(
            shop_id=shop_id or str(next(self._shop_ids)),
            secret_key=secret_key or "test_" + secrets.token_urlsafe(24),
            webhook_url=webhook_url,
        )
        self._shops[shop.shop_id] = shop
        return shop

    def payment(self, payment_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._payments[payment_id].obj)

    def payments_of(self, shop: Shop) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(stored.obj)
            for stored in self._payments.values()
            if stored.shop_id == shop.shop_id
        ]

    def shop_of(self, payment_id: str) -> str:
        return self._payments[payment_id].shop_id

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    async def settle(self) -> None:
        """Wait until the notifications of API-made changes (refunds) have been delivered."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def fail_next(self, count: int = 1, status: int | str = 500, *, after_commit: bool = False):
        """The next `count` API requests fail with `status`, or hang with "timeout".

        With `after_commit` the request is carried out first and only the answer is lost, as
        with a real 500 whose "result is unknown": a retry must reuse the idempotence key.
        """
        self._faults.append(_Fault(status, after_commit, count))

    # ---- state changes the real shop's payer / owner would cause ---------------------------

    async def succeed(self, payment_id: str, *, notify: bool = True) -> dict[str, Any]:
        stored = self._payments[payment_id]
        obj = stored.obj
        if obj["status"] != "pending":
            raise ValueError(f"payment {payment_id} is {obj['status']}, not pending")
        obj.update(
            status="succeeded",
            paid=True,
            refundable=True,
            captured_at=_now(),
            income_amount=copy.deepcopy(obj["amount"]),
            payment_method={"type": "bank_card", "id": obj["id"], "saved": False},
        )
        obj.pop("confirmation", None)
        if notify:
            await self.notify(stored.shop_id, "payment.succeeded", obj)
        return copy.deepcopy(obj)

    async def cancel(
        self, payment_id: str, *, reason: str = "expired_on_confirmation", notify: bool = True
    ) -> dict[str, Any]:
        stored = self._payments[payment_id]
        obj = stored.obj
        if obj["status"] != "pending":
            raise ValueError(f"payment {payment_id} is {obj['status']}, not pending")
        obj.update(
            status="canceled",
            cancellation_details={"party": "yoo_money", "reason": reason},
        )
        obj.pop("confirmation", None)
        if notify:
            await self.notify(stored.shop_id, "payment.canceled", obj)
        return copy.deepcopy(obj)

    async def refund(
        self, payment_id: str, amount: str | None = None, *, notify: bool = True
    ) -> dict[str, Any]:
        """Refund (all of the rest by default), as the shop owner would in the dashboard."""
        stored = self._payments[payment_id]
        refund = self._make_refund(stored, amount)
        if notify:
            await self.notify(stored.shop_id, "refund.succeeded", refund)
        return copy.deepcopy(refund)

    async def notify(self, shop_id: str, event: str, obj: dict[str, Any]) -> int | None:
        """POST a notification to the shop's webhook URL (if any); the HTTP status or None."""
        url = self._shops[shop_id].webhook_url
        if url is None:
            return None
        return await self.post_notification(url, event, obj)

    async def post_notification(self, url: str, event: str, obj: dict[str, Any]) -> int | None:
        """Deliver a notification to any URL: also how tests forge one."""
        assert self._client is not None
        body = {"type": "notification", "event": event, "object": obj}
        try:
            async with self._client.post(url, json=body) as response:
                status: int | None = response.status
        except aiohttp.ClientError:
            status = None
        self.deliveries.append(NotificationDelivery(url, event, str(obj.get("id")), status))
        return status

    # ---- HTTP handlers --------------------------------------------------------------------

    async def _create_payment(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._do_create_payment)

    async def _get_payment(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._do_get_payment)

    async def _create_refund(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._do_create_refund)

    async def _get_refund(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._do_get_refund)

    async def _me(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._do_me)

    async def _serve(self, request: web.Request, action) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            authorization=request.headers.get("Authorization"),
            shop_id=None,
            idempotence_key=request.headers.get("Idempotence-Key"),
            body=body,
        )
        self.requests.append(record)
        fault = self._take_fault()
        if fault is not None and fault.status == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.hang_s)
            record.status = 504
            return web.json_response({"type": "error", "code": "timeout"}, status=504)
        if fault is not None and not fault.after_commit:
            record.status = int(fault.status)
            return _fault_response(record.status)
        try:
            shop = self._authenticate(request)
            record.shop_id = shop.shop_id
            status, payload = await action(request, shop, body)
        except ApiError as exc:
            record.status = exc.status
            return exc.response()
        if fault is not None:
            record.status = int(fault.status)
            return _fault_response(record.status)
        record.status = status
        return web.json_response(payload, status=status)

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.pop(0)
        return fault

    def _authenticate(self, request: web.Request) -> Shop:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        shop = None
        if scheme.lower() == "basic":
            try:
                shop_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                shop_id, secret = "", ""
            shop = self._shops.get(shop_id)
            if shop is not None and not secrets.compare_digest(shop.secret_key, secret):
                shop = None
        if shop is None:
            raise ApiError(
                401,
                "invalid_credentials",
                "Login or password is incorrect. Check your shopId and secret key.",
            )
        return shop

    def _idempotent(self, request: web.Request, shop: Shop, body: Any, create) -> tuple[int, Any]:
        key = request.headers.get("Idempotence-Key")
        if not key:
            raise ApiError(400, "invalid_request", "Idempotence key isn't specified")
        if len(key) > _MAX_KEY_LENGTH:
            raise ApiError(400, "invalid_request", "Idempotence key is too long")
        canonical = json.dumps(body, sort_keys=True)
        slot = (shop.shop_id, request.path, key)
        if slot in self._idempotence:
            seen_body, status, payload = self._idempotence[slot]
            if seen_body != canonical:
                raise ApiError(
                    400,
                    "invalid_request",
                    "Idempotence key duplicated: the same key was used with other parameters",
                )
            return status, copy.deepcopy(payload)
        payload = create()
        self._idempotence[slot] = (canonical, 200, copy.deepcopy(payload))
        return 200, payload

    async def _do_create_payment(self, request: web.Request, shop: Shop, body: Any):
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "Request body must be a JSON object")
        amount = _check_amount(body.get("amount"), "amount")
        confirmation = body.get("confirmation")
        if (
            not isinstance(confirmation, dict)
            or confirmation.get("type") != "redirect"
            or not isinstance(confirmation.get("return_url"), str)
        ):
            raise ApiError(
                400,
                "invalid_request",
                "confirmation of type redirect with a return_url is required",
                "confirmation",
            )
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > _MAX_DESCRIPTION
        ):
            raise ApiError(400, "invalid_request", "description is too long", "description")
        metadata = body.get("metadata") or {}
        if (
            not isinstance(metadata, dict)
            or len(metadata) > _MAX_METADATA_KEYS
            or not all(isinstance(v, str) and len(v) <= 512 for v in metadata.values())
            or not all(len(k) <= 32 for k in metadata)
        ):
            raise ApiError(400, "invalid_request", "metadata is invalid", "metadata")

        def create() -> dict[str, Any]:
            payment_id = str(uuid.uuid4())
            obj: dict[str, Any] = {
                "id": payment_id,
                "status": "pending",
                "paid": False,
                "amount": amount,
                "confirmation": {
                    "type": "redirect",
                    "return_url": confirmation["return_url"],
                    "confirmation_url": (
                        f"https://yoomoney.ru/api-pages/v2/payment-confirm/epl?orderId={payment_id}"
                    ),
                },
                "created_at": _now(),
                "description": description,
                "metadata": metadata,
                "recipient": {"account_id": shop.shop_id, "gateway_id": "1000001"},
                "refundable": False,
                "test": True,
            }
            if description is None:
                del obj["description"]
            self._payments[payment_id] = _Stored(shop.shop_id, obj)
            return copy.deepcopy(obj)

        return self._idempotent(request, shop, body, create)

    async def _do_get_payment(self, request: web.Request, shop: Shop, body: Any):
        stored = self._payments.get(request.match_info["payment_id"])
        if stored is None or stored.shop_id != shop.shop_id:
            raise ApiError(404, "not_found", "Payment doesn't exist or access denied")
        return 200, copy.deepcopy(stored.obj)

    async def _do_create_refund(self, request: web.Request, shop: Shop, body: Any):
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "Request body must be a JSON object")
        stored = self._payments.get(str(body.get("payment_id")))
        if stored is None or stored.shop_id != shop.shop_id:
            raise ApiError(404, "not_found", "Payment doesn't exist or access denied")
        amount = _check_amount(body.get("amount"), "amount")

        def create() -> dict[str, Any]:
            refund = self._make_refund(stored, amount["value"])
            # Like YooKassa: answer first, notify the shop's webhook a moment later.
            task = asyncio.create_task(self.notify(shop.shop_id, "refund.succeeded", refund))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return refund

        return self._idempotent(request, shop, body, create)

    async def _do_get_refund(self, request: web.Request, shop: Shop, body: Any):
        stored = self._refunds.get(request.match_info["refund_id"])
        if stored is None or stored.shop_id != shop.shop_id:
            raise ApiError(404, "not_found", "Refund doesn't exist or access denied")
        return 200, copy.deepcopy(stored.obj)

    async def _do_me(self, request: web.Request, shop: Shop, body: Any):
        return 200, {
            "account_id": shop.shop_id,
            "test": True,
            "fiscalization_enabled": False,
            "payment_methods": ["bank_card", "sbp"],
            "status": "enabled",
        }

    def _make_refund(self, stored: _Stored, amount: str | None) -> dict[str, Any]:
        payment = stored.obj
        if payment["status"] != "succeeded":
            raise ApiError(400, "invalid_request", "Payment is not succeeded", "payment_id")
        paid = Decimal(payment["amount"]["value"])
        refunded = Decimal(payment.get("refunded_amount", {}).get("value", "0"))
        value = Decimal(amount) if amount is not None else paid - refunded
        if value <= 0 or refunded + value > paid:
            raise ApiError(400, "invalid_request", "Refund amount exceeds the rest", "amount")
        currency = payment["amount"]["currency"]
        refund_id = str(uuid.uuid4())
        refund = {
            "id": refund_id,
            "payment_id": payment["id"],
            "status": "succeeded",
            "created_at": _now(),
            "amount": {"value": f"{value:.2f}", "currency": currency},
        }
        payment["refunded_amount"] = {"value": f"{refunded + value:.2f}", "currency": currency}
        payment["refundable"] = refunded + value < paid
        self._refunds[refund_id] = _Stored(stored.shop_id, refund)
        stored.refunds.append(refund_id)
        return copy.deepcopy(refund)


def _check_amount(value: Any, parameter: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_request", "amount is required", parameter)
    raw, currency = value.get("value"), value.get("currency")
    if not isinstance(raw, str) or not _MONEY.fullmatch(raw):
        raise ApiError(400, "invalid_request", "amount.value is invalid", f"{parameter}.value")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ApiError(
            400, "invalid_request", "amount.currency is invalid", f"{parameter}.currency"
        )
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ApiError(400, "invalid_request", "amount.value is invalid", parameter) from None
    if number <= 0:
        raise ApiError(400, "invalid_request", "amount must be positive", f"{parameter}.value")
    return {"value": f"{number:.2f}", "currency": currency}


_FAULT_CODES = {
    400: ("invalid_request", "The request was refused."),
    401: ("invalid_credentials", "Login or password is incorrect."),
    403: ("forbidden", "Not enough rights for this operation."),
    429: ("too_many_requests", "Too many requests."),
}


def _fault_response(status: int) -> web.Response:
    """An injected fault, shaped like YooKassa's error for that status."""
    code, description = _FAULT_CODES.get(
        status,
        ("internal_server_error", "Internal server error. The result of the request is unknown."),
    )
    body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
    return web.json_response(body, status=status)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
