"""Outgoing webhooks over HTTP; the rules are in panel_api/services/webhooks.py and the
contract with receivers in docs/webhooks.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, DeliveryId, EndpointId
from panel_api.permissions import Permission
from panel_api.schemas.webhooks import (
    WebhookDeliveryOut,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookSecretOut,
)
from panel_api.services import webhooks as service

router = APIRouter(prefix="/accounts/{account_id}/webhooks", tags=["webhooks"])
Read = Annotated[Access, Depends(AccountRule(Permission.INTEGRATIONS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.INTEGRATIONS_MANAGE))]


@router.get("", response_model=list[WebhookEndpointOut], summary="The account's endpoints")
async def list_endpoints(account_id: AccountId, access: Read, ctx: Ctx) -> list[WebhookEndpointOut]:
    return await service.list_endpoints(ctx, access)


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Add an endpoint; the answer shows its signing secret",
)
async def create_endpoint(
    account_id: AccountId, body: WebhookEndpointIn, access: Manage, ctx: Ctx
) -> WebhookEndpointCreated:
    return await service.create_endpoint(ctx, access, body)


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut, summary="One endpoint")
async def get_endpoint(
    account_id: AccountId, endpoint_id: EndpointId, access: Read, ctx: Ctx
) -> WebhookEndpointOut:
    return await service.get_endpoint(ctx, access, endpoint_id)


@router.get("/{endpoint_id}/secret", response_model=WebhookSecretOut, summary="The signing secret")
async def get_secret(
    account_id: AccountId, endpoint_id: EndpointId, access: Manage, ctx: Ctx
) -> WebhookSecretOut:
    return await service.reveal_secret(ctx, access, endpoint_id)


@router.delete("/{endpoint_id}", status_code=204, summary="Remove an endpoint and its log")
async def delete_endpoint(
    account_id: AccountId, endpoint_id: EndpointId, access: Manage, ctx: Ctx
) -> Response:
    await service.delete_endpoint(ctx, access, endpoint_id)
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=list[WebhookDeliveryOut],
    summary="The endpoint's latest deliveries, newest first",
)
async def list_deliveries(
    account_id: AccountId,
    endpoint_id: EndpointId,
    access: Read,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WebhookDeliveryOut]:
    return await service.list_deliveries(ctx, access, endpoint_id, limit)


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=WebhookDeliveryOut,
    summary="Send a delivery again (a fresh 24 h of retries)",
)
async def replay(
    account_id: AccountId, delivery_id: DeliveryId, access: Manage, ctx: Ctx
) -> WebhookDeliveryOut:
    return await service.replay(ctx, access, delivery_id)
