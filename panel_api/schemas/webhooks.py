"""Outgoing webhooks: endpoints (the secret appears once, when made) and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from panel_api.schemas.common import StrictIn

EventType = Literal[
    "run.started",
    "run.completed",
    "run.stopped",
    "answer.recorded",
    "test.scored",
    "payment.succeeded",
    "payment.refunded",
]


class WebhookEndpointIn(StrictIn):
    url: str = Field(
        min_length=8,
        max_length=500,
        description=(
            "where events are POSTed: https, on a public internet address (the operator may "
            "allow others)"
        ),
        examples=["https://crm.example.com/hooks/coursebot"],
    )
    events: list[EventType] = Field(
        min_length=1, max_length=7, description="the event types to send (docs/webhooks.md)"
    )


class WebhookEndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="signing secret for X-Coursebot-Signature; shown here once (admins can "
        "read it again at .../secret)"
    )


class WebhookSecretOut(BaseModel):
    secret: str


class WebhookDeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    body: str = Field(description="the exact JSON sent")
