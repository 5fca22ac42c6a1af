"""Outgoing webhooks in the database: events recorded with the change they report, claimed
by the delivery loops, and the result of each attempt.

An event becomes one `webhook_delivery` row per active endpoint of its account subscribed to
its type, inserted by the transaction that makes the change (the journal's batch for runs,
answers and tests; the payment's own transaction for payments), so an event is sent if and
only if its change committed. The body is built once, here, and never rebuilt: a retry or a
replay sends the same bytes (docs/webhooks.md describes them).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WebhookDelivery, WebhookEndpoint, WebhookStatus

#: Every event type an endpoint may subscribe to (docs/webhooks.md).
EVENT_TYPES: tuple[str, ...] = (
    "run.started",
    "run.completed",
    "run.stopped",
    "answer.recorded",
    "test.scored",
    "payment.succeeded",
    "payment.refunded",
)

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Coursebot-Signature"


def new_secret() -> str:
    """A signing secret (ours, never the tenant's choice): 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class HookEvent:
    """One event of one account, its body final."""

    account_id: int
    event_id: str
    event_type: str
    body: str
    at: datetime


def hook_event(
    account_id: int, event_type: str, at: datetime, data: Mapping[str, Any]
) -> HookEvent:
    """The event with its documented envelope: id, type, created_at, account_id, data."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event_id = f"evt_{uuid.uuid4().hex}"
    envelope = {
        "id": event_id,
        "type": event_type,
        "created_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "account_id": account_id,
        "data": dict(data),
    }
    return HookEvent(account_id, event_id, event_type, orjson.dumps(envelope).decode(), at)


# One row per event × active subscribed endpoint; an account with no endpoint costs a join
# that finds nothing.
_RECORD = """
INSERT INTO webhook_delivery
    (account_id, endpoint_id, event_id, event_type, body, next_attempt_at, window_start)
SELECT e.account_id, w.id, e.event_id, e.event_type, e.body, e.at, e.at
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     WITH ORDINALITY AS e(account_id, event_id, event_type, body, at, n)
JOIN webhook_endpoint w
  ON w.account_id = e.account_id AND w.active AND e.event_type = ANY (w.events)
ORDER BY e.n, w.id
"""

Execute = Callable[..., Awaitable[Any]]


async def record_events(execute: Execute, events: Sequence[HookEvent]) -> None:
    """Write the events' deliveries with `execute(query, *args)` of the caller's transaction
    (a BatchConnection's, or `session_execute(session)`)."""
    if not events:
        return
    await execute(
        _RECORD,
        [e.account_id for e in events],
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.body for e in events],
        [e.at for e in events],
    )


def session_execute(session: AsyncSession) -> Execute:
    """`execute(query, *args)` on the asyncpg connection under `session`, inside its
    transaction (so a positional-parameter statement serves both kinds of caller)."""

    async def execute(query: str, *args: Any) -> Any:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        return await raw.driver_connection.execute(query, *args)  # type: ignore[union-attr]

    return execute


# ---- endpoints (panel) ----------------------------------------------------------------------


async def list_endpoints(session: AsyncSession, account_id: int) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.account_id == account_id)
        .order_by(WebhookEndpoint.id)
    )
    return list(rows)


async def get_endpoint(
    session: AsyncSession, account_id: int, endpoint_id: int
) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.account_id == account_id, WebhookEndpoint.id == endpoint_id
        )
    )


async def add_endpoint(
    session: AsyncSession,
    account_id: int,
    *,
    url: str,
    secret_ciphertext: str,
    events: Sequence[str],
) -> WebhookEndpoint:
    row = WebhookEndpoint(
        account_id=account_id, url=url, secret_ciphertext=secret_ciphertext, events=list(events)
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def delete_endpoint(session: AsyncSession, account_id: int, endpoint_id: int) -> bool:
    row = await get_endpoint(session, account_id, endpoint_id)
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True


async def list_deliveries(
    session: AsyncSession, account_id: int, endpoint_id: int, *, limit: int = 100
) -> list[WebhookDelivery]:
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list(rows)


async def get_delivery(
    session: AsyncSession, account_id: int, delivery_id: int
) -> WebhookDelivery | None:
    return await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.account_id == account_id, WebhookDelivery.id == delivery_id
        )
    )


async def replay(
    session: AsyncSession, account_id: int, delivery_id: int, now: datetime
) -> WebhookDelivery | None:
    """Send the delivery again, soon, with a fresh retry window (whatever its status)."""
    result = await session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.id == delivery_id)
        .values(
            status=WebhookStatus.PENDING.value,
            next_attempt_at=now,
            window_start=now,
            delivered_at=None,
        )
        .returning(WebhookDelivery),
        execution_options={"populate_existing": True},
    )
    return result.one_or_none()


# ---- delivery (runner) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt (its next attempt already pushed past the lease)."""

    id: int
    account_id: int
    endpoint_id: int
    event_type: str
    body: str
    attempts: int
    window_start: datetime
    url: str
    secret_ciphertext: str


_NAME_ACCOUNTS = text("SELECT set_config('app.account_ids', :ids, true)")
_CLAIM = text(
    "SELECT id, account_id FROM "
    "sys_claim_webhook_deliveries(:now, :limit, :per_account, "
    "CAST(:busy AS bigint[]), CAST(:inflight AS integer[]))"
)
_TAKE = text("""
UPDATE webhook_delivery d
SET attempts = d.attempts + 1, last_attempt_at = :now, next_attempt_at = :lease_until
FROM webhook_endpoint w
WHERE d.id = ANY(:ids) AND w.account_id = d.account_id AND w.id = d.endpoint_id
RETURNING d.id, d.account_id, d.endpoint_id, d.event_type, d.body, d.attempts,
          d.window_start, w.url, w.secret_ciphertext
""")


async def claim(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int,
    per_account: int,
    inflight: Mapping[int, int],
    lease: timedelta,
) -> list[Claimed]:
    """Claim up to `limit` due deliveries in the caller's system transaction, at most
    `per_account` of one account counting the caller's `inflight` attempts (account id ->
    how many); until `now + lease` no other runner takes them (a runner that dies
    mid-attempt leaves them due again after that)."""
    params = {
        "now": now,
        "limit": limit,
        "per_account": per_account,
        "busy": list(inflight),
        "inflight": list(inflight.values()),
    }
    found = (await session.execute(_CLAIM, params)).all()
    if not found:
        return []
    accounts = "{" + ",".join(str(a) for a in sorted({row.account_id for row in found})) + "}"
    await session.execute(_NAME_ACCOUNTS, {"ids": accounts})
    rows = await session.execute(
        _TAKE, {"now": now, "lease_until": now + lease, "ids": [row.id for row in found]}
    )
    return [Claimed(*row) for row in rows]


async def record_attempt(
    session: AsyncSession,
    account_id: int,
    delivery_id: int,
    *,
    status: WebhookStatus,
    next_attempt_at: datetime | None,
    http_status: int | None,
    error: str | None,
    now: datetime,
) -> None:
    """The outcome of one attempt: delivered, failed for good, or due again later."""
    values: dict[str, Any] = {
        "status": status.value,
        "last_status": http_status,
        "last_error": error,
    }
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if status is WebhookStatus.DELIVERED:
        values["delivered_at"] = now
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.id == delivery_id)
        .values(**values)
    )
