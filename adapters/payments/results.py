"""What the payments service hands back to the runtime and the panel, and how it refuses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class PaymentLink:
    """A checkout to show the student (a button with `confirmation_url`)."""

    payment_id: int
    provider_payment_id: str
    confirmation_url: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class GrantedAccess:
    """The student just became entitled to the deployment: start the course for them."""

    account_id: int
    bot_id: int
    chat_id: int
    deployment_id: int
    telegram_user_id: int
    payment_id: int
    token_id: int | None = None  # the enrollment token the student came with, if any


@dataclass(frozen=True)
class RevokedAccess:
    """The student's last paid entitlement to the deployment was refunded."""

    account_id: int
    bot_id: int
    chat_id: int
    deployment_id: int
    telegram_user_id: int
    payment_id: int
    token_id: int | None = None  # the enrollment token the student came with, if any


AccessChange = GrantedAccess | RevokedAccess


class Outcome(enum.StrEnum):
    GRANTED = "granted"  # access given (see `change`)
    REVOKED = "revoked"  # access taken back (see `change`)
    RECORDED = "recorded"  # the provider's new state was stored, access unchanged
    UNCHANGED = "unchanged"  # nothing new (a replayed or premature notification)
    REJECTED = "rejected"  # not verifiable as this account's payment: ignored


@dataclass(frozen=True)
class NotificationResult:
    outcome: Outcome
    reason: str
    change: AccessChange | None = None


class PaymentError(Exception):
    """A checkout cannot be offered; `code` lets the caller pick the student-facing text."""

    code = "payment_error"


class NotForSale(PaymentError):
    """No such active deployment on this bot, or it has no price."""

    code = "not_for_sale"


class PaymentsNotConfigured(PaymentError):
    """The account has no YooKassa credentials yet."""

    code = "payments_not_configured"


class AlreadyPaid(PaymentError):
    """The student already has access: start the course instead of asking for money."""

    code = "already_paid"


class InvalidCredentials(PaymentError):
    """The shop id / secret key were refused (format or YooKassa itself)."""

    code = "invalid_credentials"


class PaymentProviderUnavailable(PaymentError):
    """YooKassa could not be reached or refused the request: try again later."""

    code = "provider_unavailable"
