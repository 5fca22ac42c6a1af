"""The per-account YooKassa notification endpoint, as a router the panel mounts.

URL: POST {prefix}/payments/yookassa/{account_id}; each account pastes its own URL into its
YooKassa shop settings. The notification is verified and applied BEFORE answering: an
acknowledged-then-lost notification would be gone, while YooKassa re-delivers anything not
answered with 200 for 24 hours. Verification is one GET to YooKassa and one short
transaction, well within YooKassa's patience.

Answers: 200 for everything verified or ignored (a forger learns nothing from the status),
400 for a body that is not JSON, 413 for an oversized one, 503 when YooKassa cannot be asked
right now and 500 when applying failed (either way the genuine notification comes again).
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.payments.results import PaymentProviderUnavailable
from adapters.payments.service import PaymentService
from storage.public_urls import YOOKASSA_NOTIFICATION_PATH

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # real notifications are a few kilobytes


def payments_router(service: PaymentService, *, prefix: str = "/api/v1") -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["payments"])

    @router.post(
        YOOKASSA_NOTIFICATION_PATH,
        summary="YooKassa HTTP notification for one account",
        responses={400: {}, 413: {}, 503: {}},
    )
    async def yookassa_notification(account_id: int, request: Request) -> JSONResponse:
        raw = await _read_capped(request)
        if raw is None:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        client_ip = request.client.host if request.client else None
        try:
            result = await service.handle_notification(account_id, body, client_ip)
        except PaymentProviderUnavailable:
            log.warning("YooKassa unreachable while verifying a notification of %s", account_id)
            return JSONResponse({"error": "try again later"}, status_code=503)
        except Exception:
            # E.g. the runtime's access hook failed: the grant was rolled back with it, and
            # a non-200 answer makes YooKassa deliver the notification again.
            log.exception("could not apply a YooKassa notification of account %s", account_id)
            return JSONResponse({"error": "try again later"}, status_code=500)
        log.info(
            "YooKassa notification for account %s: %s (%s)",
            account_id,
            result.outcome.value,
            result.reason,
        )
        return JSONResponse({"ok": True})

    return router


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY_BYTES (stops reading there: no memory for floods)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
