"""An account's outgoing webhooks: endpoints, their signing secrets, the delivery log and
replay. The endpoint URL must pass the outbound policy when saved (and passes it again at
every delivery); the secret is ours, sealed by storage/crypto, shown once when made and
afterwards only to those who manage integrations. Deliveries themselves are the runners'
business (adapters/webhooks.py)."""

from __future__ import annotations

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import not_found, unprocessable
from panel_api.schemas.webhooks import (
    WebhookDeliveryOut,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookSecretOut,
)
from storage import webhooks as repo
from storage.models import WebhookDelivery, WebhookEndpoint, WebhookStatus
from storage.outbound import OutboundError

MAX_ENDPOINTS = 10


def _endpoint_out(row: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=row.id,
        url=row.url,
        events=list(row.events),
        active=row.active,
        created_at=row.created_at,
    )


def delivery_out(row: WebhookDelivery) -> WebhookDeliveryOut:
    pending = row.status == WebhookStatus.PENDING
    return WebhookDeliveryOut(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
        body=row.body,
    )


async def list_endpoints(ctx: PanelContext, access: Access) -> list[WebhookEndpointOut]:
    async with ctx.db.tenant(access.account_id) as session:
        return [_endpoint_out(r) for r in await repo.list_endpoints(session, access.account_id)]


async def create_endpoint(
    ctx: PanelContext, access: Access, body: WebhookEndpointIn
) -> WebhookEndpointCreated:
    try:
        await ctx.outbound.policy.check_url(body.url)
    except OutboundError as exc:
        raise unprocessable(
            f"url: {exc}", key=f"problem.address_{exc.kind}", host=exc.host
        ) from None
    secret = repo.new_secret()
    events = sorted(set(body.events), key=repo.EVENT_TYPES.index)
    async with ctx.db.tenant(access.account_id) as session:
        if len(await repo.list_endpoints(session, access.account_id)) >= MAX_ENDPOINTS:
            raise unprocessable(
                f"an account can have at most {MAX_ENDPOINTS} webhook endpoints",
                key="limit.webhook_endpoints",
                count=MAX_ENDPOINTS,
            )
        row = await repo.add_endpoint(
            session,
            access.account_id,
            url=body.url,
            secret_ciphertext=ctx.box.encrypt(secret),
            events=events,
        )
        await record(
            session,
            access,
            "webhook.create",
            "webhook_endpoint",
            row.id,
            url=row.url,
            events=events,
        )
        return WebhookEndpointCreated(**_endpoint_out(row).model_dump(), secret=secret)


async def _endpoint(ctx: PanelContext, access: Access, endpoint_id: int) -> WebhookEndpoint:
    async with ctx.db.tenant(access.account_id) as session:
        row = await repo.get_endpoint(session, access.account_id, endpoint_id)
    if row is None:
        raise not_found("webhook endpoint")
    return row


async def get_endpoint(ctx: PanelContext, access: Access, endpoint_id: int) -> WebhookEndpointOut:
    return _endpoint_out(await _endpoint(ctx, access, endpoint_id))


async def reveal_secret(ctx: PanelContext, access: Access, endpoint_id: int) -> WebhookSecretOut:
    row = await _endpoint(ctx, access, endpoint_id)
    async with ctx.db.tenant(access.account_id) as session:
        await record(session, access, "webhook.secret.read", "webhook_endpoint", endpoint_id)
    return WebhookSecretOut(secret=ctx.box.decrypt(row.secret_ciphertext).reveal())


async def delete_endpoint(ctx: PanelContext, access: Access, endpoint_id: int) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        if not await repo.delete_endpoint(session, access.account_id, endpoint_id):
            raise not_found("webhook endpoint")
        await record(session, access, "webhook.delete", "webhook_endpoint", endpoint_id)


async def list_deliveries(
    ctx: PanelContext, access: Access, endpoint_id: int, limit: int = 100
) -> list[WebhookDeliveryOut]:
    await _endpoint(ctx, access, endpoint_id)
    async with ctx.db.tenant(access.account_id) as session:
        rows = await repo.list_deliveries(session, access.account_id, endpoint_id, limit=limit)
        return [delivery_out(r) for r in rows]


async def replay(ctx: PanelContext, access: Access, delivery_id: int) -> WebhookDeliveryOut:
    async with ctx.db.tenant(access.account_id) as session:
        row = await repo.replay(session, access.account_id, delivery_id, ctx.clock())
        if row is None:
            raise not_found("webhook delivery")
        await record(session, access, "webhook.replay", "webhook_delivery", delivery_id)
        return delivery_out(row)
