"""Reading a YooKassa notification body, which is only ever a hint.

Notifications are not signed: anyone can POST one. So all we take from the body is WHICH
payment to look at; its state, amount and metadata come from re-fetching it with the
account's own credentials (adapters.payments.service). This module only refuses bodies that
do not even name a payment in the expected shape.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from adapters.payments.yookassa import check_object_id


class NotificationEvent(enum.StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_WAITING_FOR_CAPTURE = "payment.waiting_for_capture"
    PAYMENT_CANCELED = "payment.canceled"
    REFUND_SUCCEEDED = "refund.succeeded"


class MalformedNotification(ValueError):
    """The body is not a YooKassa notification about a payment or a refund."""


@dataclass(frozen=True)
class NotificationRef:
    event: NotificationEvent
    payment_id: str


def parse_notification(body: Any) -> NotificationRef:
    """The event and the payment it is about (for a refund: the refunded payment)."""
    if not isinstance(body, dict) or body.get("type") != "notification":
        raise MalformedNotification("not a notification object")
    try:
        event = NotificationEvent(str(body.get("event")))
    except ValueError:
        raise MalformedNotification("unsupported event") from None
    obj = body.get("object")
    if not isinstance(obj, dict):
        raise MalformedNotification("notification has no object")
    key = "payment_id" if event is NotificationEvent.REFUND_SUCCEEDED else "id"
    try:
        payment_id = check_object_id(obj.get(key))
    except ValueError:
        raise MalformedNotification(f"object.{key} is not a payment id") from None
    return NotificationRef(event, payment_id)
