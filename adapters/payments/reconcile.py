"""Pure rules for mirroring a re-fetched YooKassa payment onto our payment row.

Kept free of I/O so the rules read in one place: which provider answers we believe, and how
a row may move. YooKassa never moves a payment back (pending -> succeeded | canceled, and
refunds only add up), so neither do we: a stale or replayed answer can never undo a later one.
The one forward move we allow out of `canceled` is to `succeeded`, because a row we marked
canceled ourselves (its payment vanished from the shop) is a guess the provider may overrule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.payments.yookassa import check_object_id
from storage.models import PaymentStatus

# Keys we put into the payment's metadata at creation and expect back unchanged.
METADATA_KEYS = ("account", "deployment", "chat", "user", "bot", "order", "token")

_RANK = {
    PaymentStatus.PENDING: 0,
    PaymentStatus.WAITING_FOR_CAPTURE: 1,
    PaymentStatus.SUCCEEDED: 2,
    PaymentStatus.CANCELED: 2,
}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ProviderPayment:
    """The fields of a YooKassa payment object we act on, validated."""

    id: str
    status: PaymentStatus
    amount: Decimal
    currency: str
    refunded_amount: Decimal
    metadata: dict[str, Any]
    confirmation_url: str | None

    @classmethod
    def parse(cls, data: Any) -> ProviderPayment:
        """Raises ValueError for anything that is not a well-formed payment object."""
        if not isinstance(data, dict):
            raise ValueError("payment is not an object")
        amount, currency = _money(data.get("amount"))
        refunded = data.get("refunded_amount")
        refunded_amount = _money(refunded)[0] if refunded is not None else Decimal("0.00")
        if refunded_amount > amount:
            raise ValueError("refunded more than paid")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not an object")
        confirmation = data.get("confirmation")
        url = confirmation.get("confirmation_url") if isinstance(confirmation, dict) else None
        return cls(
            id=check_object_id(data.get("id")),
            status=PaymentStatus(str(data.get("status"))),
            amount=amount,
            currency=currency,
            refunded_amount=refunded_amount,
            metadata=metadata,
            confirmation_url=url if isinstance(url, str) else None,
        )


@dataclass(frozen=True)
class RowState:
    status: PaymentStatus
    refunded_amount: Decimal


def mismatch(
    row_meta: dict[str, Any], amount: Decimal, currency: str, fetched: ProviderPayment
) -> str | None:
    """Why the fetched payment is not the one our row describes (None when it is)."""
    for key in METADATA_KEYS:
        if str(fetched.metadata.get(key)) != str(row_meta.get(key)):
            return f"metadata.{key} differs from our record"
    if (fetched.amount, fetched.currency) != (amount, currency):
        return "amount differs from our record"
    return None


def advance(row: RowState, fetched: ProviderPayment) -> RowState:
    """The row's state after learning `fetched`: only ever forward."""
    status = row.status
    forward = _RANK[fetched.status] > _RANK[row.status]
    overrules_guess = (
        row.status is PaymentStatus.CANCELED and fetched.status is PaymentStatus.SUCCEEDED
    )
    if forward or overrules_guess:
        status = fetched.status
    return RowState(status, max(row.refunded_amount, fetched.refunded_amount))


def _money(value: Any) -> tuple[Decimal, str]:
    if not isinstance(value, dict):
        raise ValueError("amount is not an object")
    raw, currency = value.get("value"), value.get("currency")
    if not isinstance(raw, str) or not isinstance(currency, str) or len(currency) != 3:
        raise ValueError("amount needs a string value and a 3-letter currency")
    try:
        amount = Decimal(raw)
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(_CENT):
            raise InvalidOperation
    except InvalidOperation:
        raise ValueError("amount value is not a sum of money") from None
    return amount.quantize(_CENT), currency.upper()
