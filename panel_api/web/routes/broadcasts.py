"""Broadcast pages: the list with a form to write one (count the audience, send a test to
yourself, send or schedule), and one broadcast's progress with a cancel button."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission, allows
from panel_api.schemas.broadcasts import AudienceIn, BroadcastCreate, BroadcastTestIn
from panel_api.services import broadcasts as service
from panel_api.services import deployments as deployments_service
from panel_api.web.rendering import render
from panel_api.web.routes.common import (
    Form,
    Said,
    fields,
    page_router,
    problems,
    rule,
    see_other,
)
from storage.models import BroadcastAudience, BroadcastStatus

router = page_router()
Read = Annotated[Access, rule(Permission.BROADCASTS_READ)]
Send = Annotated[Access, rule(Permission.BROADCASTS_SEND)]

_FIELDS = (
    "deployment_id",
    "audience",
    "text",
    "media_url",
    "button_text",
    "button_url",
    "continue_button",
    "utm_source",
    "progress_min",
    "progress_max",
    "send_at",
    "action",
)


@router.get("/accounts/{account_id}/broadcasts")
async def broadcasts_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    return await _page(request, access, ctx)


async def _page(
    request: Request,
    access: Access,
    ctx: Ctx,
    *,
    values: dict[str, str] | None = None,
    errors: Said | None = None,
    count: int | None = None,
    tested: int | None = None,
    status_code: int = 200,
) -> Response:
    return await render(
        request,
        "broadcasts.html",
        access=access,
        status_code=status_code,
        broadcasts=await service.list_all(ctx, access),
        deployments=await deployments_service.list_deployments(ctx, access),
        audiences=[a.value for a in BroadcastAudience],
        may_send=allows(access.role, Permission.BROADCASTS_SEND),
        values=values or {},
        errors=errors or [],
        count=count,
        tested=tested,
        time_zone=access.account.time_zone,
    )


@router.post("/accounts/{account_id}/broadcasts")
async def write_broadcast(
    request: Request, account_id: int, access: Send, form: Form, ctx: Ctx
) -> Response:
    """One form, three buttons: count the audience, send a test to me, send it."""
    values = fields(form, _FIELDS)
    action = values.pop("action", "send")
    try:
        body = _body(values, access.account.time_zone)
        if action == "count":
            counted = await service.count(ctx, access, AudienceIn(**_audience_part(body)))
            return await _page(request, access, ctx, values=values, count=counted.count)
        if action == "test":
            test = BroadcastTestIn(**_message_part(body), deployment_id=body.get("deployment_id"))
            sent = await service.send_test(ctx, access, test)
            return await _page(request, access, ctx, values=values, tested=sent.sent_to)
        made = await service.create(ctx, access, BroadcastCreate(**body))
    except ValidationError as exc:
        return await _page(
            request,
            access,
            ctx,
            values=values,
            errors=problems(exc),
            status_code=422,
        )
    except ApiError as exc:
        return await _page(
            request, access, ctx, values=values, errors=problems(exc), status_code=exc.status
        )
    return see_other(f"/accounts/{access.account_id}/broadcasts/{made.id}", "broadcast_created")


@router.get("/accounts/{account_id}/broadcasts/{broadcast_id}")
async def broadcast_page(
    request: Request, account_id: int, broadcast_id: int, access: Read, ctx: Ctx
) -> Response:
    broadcast = await service.get(ctx, access, broadcast_id)
    going = broadcast.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING)
    return await render(
        request,
        "broadcast.html",
        access=access,
        broadcast=broadcast,
        going=going,
        may_send=allows(access.role, Permission.BROADCASTS_SEND),
    )


@router.post("/accounts/{account_id}/broadcasts/{broadcast_id}/cancel")
async def cancel_broadcast(
    request: Request, account_id: int, broadcast_id: int, access: Send, form: Form, ctx: Ctx
) -> Response:
    path = f"/accounts/{access.account_id}/broadcasts/{broadcast_id}"
    try:
        await service.cancel(ctx, access, broadcast_id)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return see_other(path, "broadcast_over")
    return see_other(path, "broadcast_cancelled")


def _body(values: dict[str, str], time_zone: str) -> dict[str, Any]:
    """The form's fields as the API's body: empty fields left out, the one optional button
    as a list, the "continue the course" box as a yes or no, the schedule read in the
    account's time zone."""
    body: dict[str, Any] = {
        key: value
        for key, value in values.items()
        if value and key not in ("button_text", "button_url", "continue_button", "send_at")
    }
    if values.get("button_text") or values.get("button_url"):
        body["buttons"] = [{"text": values.get("button_text"), "url": values.get("button_url")}]
    body["continue_button"] = bool(values.get("continue_button"))
    if values.get("send_at"):
        try:
            local = datetime.fromisoformat(values["send_at"])
        except ValueError:
            raise ApiError(
                422, "the sending time is not a date and time", key="problem.send_at_not_a_time"
            ) from None
        body["send_at"] = local.replace(tzinfo=ZoneInfo(time_zone))
    return body


_AUDIENCE_KEYS = ("deployment_id", "audience", "utm_source", "progress_min", "progress_max")


def _audience_part(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k in _AUDIENCE_KEYS}


def _message_part(body: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in body.items() if k in ("text", "media_url", "buttons", "continue_button")
    }
