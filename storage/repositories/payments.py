"""Payments and each account's own payment-provider credentials (secret encrypted)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, SecretBox
from storage.models import Payment, PaymentCredentials, PaymentStatus
from storage.repositories._common import get_scoped, update_scoped


async def create(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    idempotence_key: str,
    amount: Decimal,
    currency: str,
    run_id: int | None = None,
    chat_id: int | None = None,
    telegram_user_id: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    provider: str = "yookassa",
) -> Payment:
    row = Payment(
        account_id=account_id,
        deployment_id=deployment_id,
        idempotence_key=idempotence_key,
        amount=amount,
        currency=currency,
        run_id=run_id,
        chat_id=chat_id,
        telegram_user_id=telegram_user_id,
        meta=dict(metadata or {}),
        provider=provider,
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, account_id: int, payment_id: int) -> Payment | None:
    return await get_scoped(session, Payment, account_id, Payment.id == payment_id)


async def get_by_provider_id(
    session: AsyncSession, account_id: int, provider_payment_id: str
) -> Payment | None:
    return await get_scoped(
        session, Payment, account_id, Payment.provider_payment_id == provider_payment_id
    )


async def get_by_idempotence_key(
    session: AsyncSession, account_id: int, idempotence_key: str
) -> Payment | None:
    return await get_scoped(
        session, Payment, account_id, Payment.idempotence_key == idempotence_key
    )


async def set_provider_id(
    session: AsyncSession, account_id: int, payment_id: int, provider_payment_id: str
) -> Payment | None:
    values = {"provider_payment_id": provider_payment_id}
    return await update_scoped(session, Payment, account_id, payment_id, values)


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


def reveal_secret(credentials: PaymentCredentials, box: SecretBox) -> Secret:
    return box.decrypt(credentials.secret_ciphertext)
