"""Webhooks pages: the account's endpoints (add one: its secret is shown on the answer, once),
and per endpoint its delivery log with replay. The rules are the API's
(panel_api/services/webhooks.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.schemas.webhooks import WebhookEndpointIn
from panel_api.services import webhooks as service
from panel_api.web.rendering import render
from panel_api.web.routes.common import Form, Said, page_router, problems, rule, see_other
from storage.webhooks import EVENT_TYPES

router = page_router()
Read = Annotated[Access, rule(Permission.INTEGRATIONS_READ)]
Manage = Annotated[Access, rule(Permission.INTEGRATIONS_MANAGE)]


def _url(account_id: int, endpoint_id: int | None = None) -> str:
    base = f"/accounts/{account_id}/webhooks"
    return base if endpoint_id is None else f"{base}/{endpoint_id}"


async def _list_page(
    request: Request,
    access: Access,
    ctx: Ctx,
    *,
    created: object = None,
    errors: Said | None = None,
    values: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    return await render(
        request,
        "webhooks.html",
        access=access,
        status_code=status_code,
        endpoints=await service.list_endpoints(ctx, access),
        event_types=EVENT_TYPES,
        created=created,
        errors=errors or [],
        values=values or {},
    )


@router.get("/accounts/{account_id}/webhooks")
async def webhooks_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _list_page(request, access, ctx)


@router.post("/accounts/{account_id}/webhooks")
async def add_webhook(
    request: Request, account_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    url = str(form.get("url") or "").strip()
    events = [str(e) for e in form.getlist("events")]
    values: dict[str, object] = {"url": url, "events": events}
    try:
        created = await service.create_endpoint(
            ctx,
            access,
            WebhookEndpointIn.model_validate({"url": url, "events": events}),
        )
    except ValidationError as exc:
        return await _list_page(
            request, access, ctx, errors=problems(exc), values=values, status_code=422
        )
    except ApiError as exc:
        return await _list_page(
            request, access, ctx, errors=problems(exc), values=values, status_code=exc.status
        )
    # Not a redirect: the secret is on this answer only.
    return await _list_page(request, access, ctx, created=created, status_code=201)


async def _endpoint_page(
    request: Request, access: Access, ctx: Ctx, endpoint_id: int, *, secret: str | None = None
) -> Response:
    endpoint = await service.get_endpoint(ctx, access, endpoint_id)
    return await render(
        request,
        "webhook.html",
        access=access,
        endpoint=endpoint,
        deliveries=await service.list_deliveries(ctx, access, endpoint_id),
        secret=secret,
    )


@router.get("/accounts/{account_id}/webhooks/{endpoint_id}")
async def webhook_page(
    request: Request, account_id: int, endpoint_id: int, access: Read, ctx: Ctx
) -> Response:
    return await _endpoint_page(request, access, ctx, endpoint_id)


@router.post("/accounts/{account_id}/webhooks/{endpoint_id}/secret")
async def show_secret(
    request: Request, account_id: int, endpoint_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    secret = await service.reveal_secret(ctx, access, endpoint_id)
    return await _endpoint_page(request, access, ctx, endpoint_id, secret=secret.secret)


@router.post("/accounts/{account_id}/webhooks/{endpoint_id}/delete")
async def delete_webhook(
    request: Request, account_id: int, endpoint_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    await service.delete_endpoint(ctx, access, endpoint_id)
    return see_other(_url(access.account_id), "webhook_deleted")


@router.post("/accounts/{account_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
async def replay_delivery(
    request: Request,
    account_id: int,
    endpoint_id: int,
    delivery_id: int,
    access: Manage,
    form: Form,
    ctx: Ctx,
) -> Response:
    await service.replay(ctx, access, delivery_id)
    return see_other(_url(access.account_id, endpoint_id), "webhook_replayed")
