"""Payments and each account's own payment-provider credentials (secret encrypted).

A payment row is also the student's access record: `has_access` asks for a succeeded,
not fully refunded payment of that deployment, so a refund revokes access by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, SecretBox
from storage.models import Payment, PaymentCredentials, PaymentStatus
from storage.repositories._common import get_scoped, rows_changed, update_scoped

# Statuses in which the provider may still move the money: a new checkout reuses such a row.
OPEN_STATUSES = (PaymentStatus.PENDING.value, PaymentStatus.WAITING_FOR_CAPTURE.value)


async def create_once(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    idempotence_key: str,
    amount: Decimal,
    currency: str,
    chat_id: int,
    telegram_user_id: int,
    description: str,
    return_url: str,
    metadata: Mapping[str, Any],
) -> Payment:
    """The row for `idempotence_key`, inserted unless it exists.

    ON CONFLICT DO NOTHING makes two concurrent double taps wait for each other on the unique
    index and end up with one row, instead of one of them failing with an IntegrityError.
    """
    stmt = (
        insert(Payment)
        .values(
            account_id=account_id,
            deployment_id=deployment_id,
            idempotence_key=idempotence_key,
            amount=amount,
            currency=currency,
            chat_id=chat_id,
            telegram_user_id=telegram_user_id,
            description=description,
            return_url=return_url,
            meta=dict(metadata),
        )
        .on_conflict_do_nothing(index_elements=[Payment.account_id, Payment.idempotence_key])
    )
    await session.execute(stmt)
    row = await get_by_idempotence_key(session, account_id, idempotence_key)
    assert row is not None  # inserted now or by the transaction we waited for
    return row


async def open_for_student(
    session: AsyncSession, account_id: int, deployment_id: int, telegram_user_id: int
) -> Payment | None:
    """The student's latest payment for the deployment that may still succeed."""
    stmt = (
        select(Payment)
        .where(
            Payment.account_id == account_id,
            Payment.deployment_id == deployment_id,
            Payment.telegram_user_id == telegram_user_id,
            Payment.status.in_(OPEN_STATUSES),
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def count_closed_for_student(
    session: AsyncSession, account_id: int, deployment_id: int, telegram_user_id: int
) -> int:
    """How many of the student's attempts for the deployment are over (paid or canceled).

    Open attempts are left out on purpose: a concurrent tap that has just inserted one must
    not change the number another tap derives its idempotence key from.
    """
    stmt = select(func.count()).where(
        Payment.account_id == account_id,
        Payment.deployment_id == deployment_id,
        Payment.telegram_user_id == telegram_user_id,
        Payment.status.not_in(OPEN_STATUSES),
    )
    return int(await session.scalar(stmt) or 0)


# The one rule of paid access (of `payment p`): paid, and the money not fully returned. The
# payments service asks it for a verdict, and `/start` too (storage/admission_batch.py).
GRANTS_ACCESS = "p.status = 'succeeded' AND p.refunded_amount < p.amount"
_HAS_ACCESS = text(
    "SELECT EXISTS (SELECT 1 FROM payment p WHERE p.account_id = :account_id "
    "AND p.deployment_id = :deployment_id AND p.telegram_user_id = :user_id "
    f"AND {GRANTS_ACCESS})"
)


async def has_access(
    session: AsyncSession, account_id: int, deployment_id: int, telegram_user_id: int
) -> bool:
    """Whether the student paid for the deployment and the money was not fully returned."""
    params = {
        "account_id": account_id,
        "deployment_id": deployment_id,
        "user_id": telegram_user_id,
    }
    return bool(await session.scalar(_HAS_ACCESS, params))


async def lock_by_provider_id(
    session: AsyncSession, account_id: int, provider_payment_id: str
) -> Payment | None:
    """The row, locked until the transaction ends: concurrent notifications apply one by one."""
    stmt = (
        select(Payment)
        .where(Payment.account_id == account_id, Payment.provider_payment_id == provider_payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).one_or_none()


async def lock_unattached_by_idempotence_key(
    session: AsyncSession, account_id: int, idempotence_key: str
) -> Payment | None:
    """A row whose provider id was never stored (crash after the provider created it), locked."""
    stmt = (
        select(Payment)
        .where(
            Payment.account_id == account_id,
            Payment.idempotence_key == idempotence_key,
            Payment.provider_payment_id.is_(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).one_or_none()


async def attach_provider_payment(
    session: AsyncSession,
    account_id: int,
    payment_id: int,
    *,
    provider_payment_id: str,
    confirmation_url: str | None,
) -> Payment | None:
    values = {"provider_payment_id": provider_payment_id, "confirmation_url": confirmation_url}
    return await update_scoped(session, Payment, account_id, payment_id, values)


async def record_provider_state(
    session: AsyncSession,
    account_id: int,
    payment_id: int,
    *,
    status: PaymentStatus | str,
    refunded_amount: Decimal,
) -> Payment | None:
    values = {"status": PaymentStatus(status).value, "refunded_amount": refunded_amount}
    return await update_scoped(session, Payment, account_id, payment_id, values)


async def get_by_idempotence_key(
    session: AsyncSession, account_id: int, idempotence_key: str
) -> Payment | None:
    return await get_scoped(
        session, Payment, account_id, Payment.idempotence_key == idempotence_key
    )


async def set_status(
    session: AsyncSession, account_id: int, payment_id: int, status: PaymentStatus | str
) -> Payment | None:
    values = {"status": PaymentStatus(status).value}
    return await update_scoped(session, Payment, account_id, payment_id, values)


async def set_credentials(
    session: AsyncSession,
    account_id: int,
    *,
    shop_id: str,
    secret: Secret,
    box: SecretBox,
    provider: str = "yookassa",
) -> PaymentCredentials:
    values = {"shop_id": shop_id, "secret_ciphertext": box.encrypt(secret)}
    stmt = (
        insert(PaymentCredentials)
        .values(account_id=account_id, provider=provider, **values)
        .on_conflict_do_update(
            index_elements=[PaymentCredentials.account_id, PaymentCredentials.provider],
            set_={**values, "updated_at": func.now()},
        )
        .returning(PaymentCredentials)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one()


async def get_credentials(
    session: AsyncSession, account_id: int, provider: str = "yookassa"
) -> PaymentCredentials | None:
    return await get_scoped(
        session, PaymentCredentials, account_id, PaymentCredentials.provider == provider
    )


async def delete_credentials(
    session: AsyncSession, account_id: int, provider: str = "yookassa"
) -> bool:
    """Forget the shop: paid deployments stop offering checkout until credentials return."""
    stmt = delete(PaymentCredentials).where(
        PaymentCredentials.account_id == account_id, PaymentCredentials.provider == provider
    )
    return bool(await rows_changed(session, stmt))


def reveal_secret(credentials: PaymentCredentials, box: SecretBox) -> Secret:
    return box.decrypt(credentials.secret_ciphertext)
