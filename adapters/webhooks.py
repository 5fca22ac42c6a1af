"""The delivery loop of outgoing webhooks, in every runner process.

Each round claims due deliveries (storage/webhooks.py: SKIP LOCKED, so runners share them;
a few per account, none of an account this runner is still busy with, so one account's slow
or hostile endpoint never holds the others' events up), POSTs each through the guarded
outbound client (DESIGN §10: the endpoint may not be an internal address, whatever its name
resolves to at the time) with a deadline, and records the outcome: delivered on a 2xx, else
due again after an exponential backoff, until the retry window (24 h) is over, then failed.
docs/webhooks.md is the contract with the receiving side.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage import webhooks
from storage.crypto import SecretBox
from storage.db import Database
from storage.models import WebhookStatus
from storage.outbound import OutboundClient, OutboundError

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: int, body: str) -> str:
    """The `X-Coursebot-Signature` value: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class DeliverySettings:
    """`window`: how long an event is retried; `first_retry` doubles after each failure up
    to `max_retry`; `timeout_s` bounds one attempt; `per_account` attempts of one account run
    at once in a runner, `concurrency` in all."""

    window: timedelta = timedelta(hours=24)
    first_retry: timedelta = timedelta(seconds=10)
    max_retry: timedelta = timedelta(hours=1)
    timeout_s: float = 10.0
    per_account: int = 4
    concurrency: int = 32
    interval_s: float = 1.0
    max_response_bytes: int = 64 * 1024

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery is this runner's: past any attempt's deadline."""
        return timedelta(seconds=self.timeout_s * 3 + 30)

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1, 2, ...)."""
        exponent = min(attempts - 1, 20)
        return min(self.first_retry * (2**exponent), self.max_retry)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookDelivery:
    """The loop: `start()`/`stop()` with the runner; `run_once()` is one round (tests)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        outbound: OutboundClient,
        settings: DeliverySettings | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._db = db
        self._box = box
        self._outbound = outbound
        self.settings = settings or DeliverySettings()
        self._clock = clock
        self._busy: dict[int, int] = {}  # account id -> attempts in flight here
        self._inflight: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()  # an attempt ended: there may be room for more
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _loop(self) -> None:
        """A round every `interval_s`, and at once whenever an attempt ends (a backlog
        drains as fast as the endpoints answer, within the bounds)."""
        while True:
            self._freed.clear()
            try:
                await self.run_once(wait=False)
            except Exception:
                log.exception("webhook delivery round failed")
            try:
                async with asyncio.timeout(self.settings.interval_s):
                    await self._freed.wait()
            except TimeoutError:
                pass

    async def run_once(self, *, wait: bool = True) -> int:
        """Claim what is due and start its attempts; how many were started. `wait`: return
        only when they are all done."""
        free = self.settings.concurrency - len(self._inflight)
        if free <= 0:
            return 0
        now = self._clock()
        async with self._db.system() as session:
            claimed = await webhooks.claim(
                session,
                now,
                limit=free,
                per_account=self.settings.per_account,
                inflight=dict(self._busy),
                lease=self.settings.lease,
            )
        tasks = []
        for delivery in claimed:
            self._busy[delivery.account_id] = self._busy.get(delivery.account_id, 0) + 1
            task = asyncio.create_task(self._attempt(delivery))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            tasks.append(task)
        if wait:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _attempt(self, delivery: webhooks.Claimed) -> None:
        try:
            status, error = await self._post(delivery)
            await self._record(delivery, status, error)
        except Exception:
            log.exception("webhook delivery %s: attempt not recorded", delivery.id)
        finally:
            left = self._busy.get(delivery.account_id, 1) - 1
            if left:
                self._busy[delivery.account_id] = left
            else:
                self._busy.pop(delivery.account_id, None)
            self._freed.set()

    async def _post(self, delivery: webhooks.Claimed) -> tuple[int | None, str | None]:
        """(HTTP status, our words for what went wrong); the endpoint's own answer is never
        kept (it may be anything), only its status."""
        secret = self._box.decrypt(delivery.secret_ciphertext).reveal()
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "coursebot-webhooks/1",
            webhooks.SIGNATURE_HEADER: signature(secret, timestamp, delivery.body),
            "X-Coursebot-Event": delivery.event_type,
            "X-Coursebot-Delivery": str(delivery.id),
        }
        try:
            response = await self._outbound.request(
                "POST",
                delivery.url,
                timeout_s=self.settings.timeout_s,
                max_bytes=self.settings.max_response_bytes,
                headers=headers,
                content=delivery.body.encode(),
            )
        except OutboundError as exc:
            return None, str(exc)
        if 200 <= response.status < 300:
            return response.status, None
        return response.status, f"the endpoint answered HTTP {response.status}"

    async def _record(
        self, delivery: webhooks.Claimed, http_status: int | None, error: str | None
    ) -> None:
        now = self._clock()
        if error is None:
            outcome, next_at = WebhookStatus.DELIVERED, None
        else:
            next_at = now + self.settings.retry_delay(delivery.attempts)
            if next_at > delivery.window_start + self.settings.window:
                outcome, next_at = WebhookStatus.FAILED, None
                error = f"{error}; gave up after {delivery.attempts} attempts"
            else:
                outcome = WebhookStatus.PENDING
        async with self._db.tenant(delivery.account_id) as session:
            await webhooks.record_attempt(
                session,
                delivery.account_id,
                delivery.id,
                status=outcome,
                next_attempt_at=next_at,
                http_status=http_status,
                error=error,
                now=now,
            )
