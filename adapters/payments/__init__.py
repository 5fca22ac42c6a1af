"""Paid deployments through YooKassa, one shop per account (issue [5]).

The runtime uses `PaymentService` (checkout links, access checks, the access-change hook);
the panel mounts `payments_router(service)` and shows `notification_url(...)` to the owner.
"""

from adapters.payments.config import PaymentsConfig
from adapters.payments.results import (
    AccessChange,
    AlreadyPaid,
    GrantedAccess,
    InvalidCredentials,
    NotForSale,
    NotificationResult,
    Outcome,
    PaymentError,
    PaymentLink,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
    RevokedAccess,
)
from adapters.payments.service import AccessHook, PaymentService
from adapters.payments.webhook import notification_url, payments_router
from adapters.payments.yookassa import ShopCredentials, YooKassaClient

__all__ = [
    "AccessChange",
    "AccessHook",
    "AlreadyPaid",
    "GrantedAccess",
    "InvalidCredentials",
    "NotForSale",
    "NotificationResult",
    "Outcome",
    "PaymentError",
    "PaymentLink",
    "PaymentProviderUnavailable",
    "PaymentService",
    "PaymentsConfig",
    "PaymentsNotConfigured",
    "RevokedAccess",
    "ShopCredentials",
    "YooKassaClient",
    "notification_url",
    "payments_router",
]
