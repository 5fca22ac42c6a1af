"""Paid deployments through YooKassa, one shop per account (issue [5]).

The runtime uses `PaymentService` (checkout links, access checks, the access-change hook);
the composition root mounts `payments_router(service)`; the panel shows the owner the URL
(storage/public_urls.py).
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
from adapters.payments.webhook import payments_router
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
    "payments_router",
]
