"""Paid deployments: checkout links, verified notifications, and who has access.

Each account takes money into its own YooKassa shop, so every provider call carries that
account's credentials (see adapters.payments.yookassa for why the SDK is not used).

Checkout (`create_payment`): one payment row per attempt, keyed by an idempotence key derived
from (shop, account, deployment, student, attempt number). A double tap computes the same key,
finds the same row and, if it reaches YooKassa twice, gets the same payment back. The attempt
number only moves on once the previous attempt is closed (canceled, or paid and refunded).

Notifications (`handle_notification`): the body is only a pointer. The payment is re-fetched
with THAT account's credentials (another shop's payment is a 404 there), its metadata must
name this account and match our row, and the row then moves forward only (replays change
nothing). Access is derived from the rows: paid and not fully refunded. When access appears
or disappears, the `on_access_change` hook runs INSIDE the same transaction, so the runtime
can start (or stop) the course atomically with the grant: if the hook fails, nothing is
committed, the webhook answers 5xx and YooKassa delivers the notification again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments.config import PaymentsConfig
from adapters.payments.ip_allowlist import is_yookassa_address
from adapters.payments.notifications import MalformedNotification, parse_notification
from adapters.payments.reconcile import ProviderPayment, RowState, advance, mismatch
from adapters.payments.results import (
    AccessChange,
    AlreadyPaid,
    GrantedAccess,
    InvalidCredentials,
    NotForSale,
    NotificationResult,
    Outcome,
    PaymentLink,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
    RevokedAccess,
)
from adapters.payments.yookassa import (
    ShopCredentials,
    YooKassaClient,
    YooKassaError,
    YooKassaInvalidCredentials,
    YooKassaNotFound,
    YooKassaRejected,
    YooKassaUnavailable,
)
from storage.crypto import Secret, SecretBox
from storage.db import Database
from storage.models import CourseDeployment, Payment, PaymentStatus
from storage.repositories import bots, courses, deployments, payments
from storage.webhooks import HookEvent, hook_event, record_events, session_execute

log = logging.getLogger(__name__)

AccessHook = Callable[[AsyncSession, AccessChange], Awaitable[None]]

IDEMPOTENCE_KEY_PURPOSE = "yookassa-idempotence-keys"
_SHOP_ID = re.compile(r"[0-9]{1,20}")
_SECRET_KEY = re.compile(r"[!-~]{8,256}")  # printable ASCII, no spaces
_DESCRIPTION_LIMIT = 128  # YooKassa's limit for `description`
_CHECKOUT_ROUNDS = 3
_BIGINT_LIMIT = 2**63  # account ids come from a URL path: keep them inside PostgreSQL bigint


@dataclass(frozen=True)
class _Checkout:
    shop: ShopCredentials
    payment: Payment


class PaymentService:
    """One per process; safe to share between accounts and concurrent requests."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        client: YooKassaClient,
        *,
        check_ip: bool = False,
        on_access_change: AccessHook | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._client = client
        self._check_ip = check_ip
        self._on_access_change = on_access_change
        # Keyed by the install's secret: another install with the same ids never collides.
        self._key_salt = box.derive(IDEMPOTENCE_KEY_PURPOSE).reveal().encode()

    @classmethod
    def from_config(
        cls,
        db: Database,
        box: SecretBox,
        config: PaymentsConfig,
        *,
        on_access_change: AccessHook | None = None,
    ) -> PaymentService:
        """The runner's way in: YOOKASSA_API_BASE / YOOKASSA_CHECK_IP from the settings."""
        return cls(
            db,
            box,
            YooKassaClient(config.api_base),
            check_ip=config.check_ip,
            on_access_change=on_access_change,
        )

    async def close(self) -> None:
        await self._client.close()

    # --- credentials -------------------------------------------------------------------------

    async def set_credentials(
        self, account_id: int, *, shop_id: str, secret_key: Secret | str, verify: bool = True
    ) -> ShopCredentials:
        """Store the account's shop (secret encrypted). With `verify`, YooKassa must accept it."""
        if not isinstance(secret_key, Secret):
            secret_key = Secret(secret_key if isinstance(secret_key, str) else "")
        shop_id = shop_id.strip() if isinstance(shop_id, str) else ""
        if not _SHOP_ID.fullmatch(shop_id):
            raise InvalidCredentials("shop_id must be the digits of the YooKassa shop id")
        if not _SECRET_KEY.fullmatch(secret_key.reveal()):
            raise InvalidCredentials("secret key must be 8-256 printable characters, no spaces")
        shop = ShopCredentials(shop_id, secret_key)
        if verify:
            await self._verify(shop)
        async with self._db.tenant(account_id) as session:
            await payments.set_credentials(
                session, account_id, shop_id=shop_id, secret=secret_key, box=self._box
            )
        return shop

    async def get_credentials(self, account_id: int) -> ShopCredentials | None:
        async with self._db.tenant(account_id) as session:
            return await self._shop(session, account_id)

    # --- checkout ------------------------------------------------------------------------------

    async def create_payment(
        self,
        account_id: int,
        deployment_id: int,
        telegram_user_id: int,
        chat_id: int,
        bot_id: int,
        token_id: int | None = None,
    ) -> PaymentLink:
        """A payment link for the student; the same one again while it can still be paid.

        `token_id` (the deep link's enrollment token) comes back in GrantedAccess, so the
        auto-started run keeps the token's attribution (UTM) though no /start carries it.
        Raises NotForSale, PaymentsNotConfigured, AlreadyPaid or PaymentProviderUnavailable.
        """
        refreshed: set[int] = set()
        for _ in range(_CHECKOUT_ROUNDS):
            checkout = await self._prepare(
                account_id, deployment_id, telegram_user_id, chat_id, bot_id, token_id
            )
            row = checkout.payment
            if row.provider_payment_id is None or row.confirmation_url is None:
                return await self._submit(account_id, checkout)
            if row.id in refreshed:
                return _link(row)
            refreshed.add(row.id)
            # An earlier attempt exists: it may have been paid (notification lost) or expired.
            if not await self._refresh(account_id, checkout.shop, row):
                return _link(row)
        raise PaymentProviderUnavailable("the previous payment could not be settled; try again")

    async def _prepare(
        self,
        account_id: int,
        deployment_id: int,
        telegram_user_id: int,
        chat_id: int,
        bot_id: int,
        token_id: int | None,
    ) -> _Checkout:
        async with self._db.tenant(account_id) as session:
            deployment = await deployments.get(session, account_id, deployment_id)
            if deployment is None or deployment.bot_id != bot_id or not deployment.active:
                raise NotForSale("no such active deployment on this bot")
            if deployment.price_amount is None or deployment.price_currency is None:
                raise NotForSale("this deployment is free")
            shop = await self._shop(session, account_id)
            if shop is None:
                raise PaymentsNotConfigured("the account has no YooKassa credentials")
            if await payments.has_access(session, account_id, deployment_id, telegram_user_id):
                raise AlreadyPaid("the student has already paid for this deployment")
            row = await payments.open_for_student(
                session, account_id, deployment_id, telegram_user_id
            )
            if row is None:
                row = await self._new_attempt(
                    session, account_id, deployment, shop, telegram_user_id, chat_id, token_id
                )
            return _Checkout(shop, row)

    async def _new_attempt(
        self,
        session: AsyncSession,
        account_id: int,
        deployment: CourseDeployment,
        shop: ShopCredentials,
        telegram_user_id: int,
        chat_id: int,
        token_id: int | None,
    ) -> Payment:
        attempt = await payments.count_closed_for_student(
            session, account_id, deployment.id, telegram_user_id
        )
        key = self._idempotence_key(shop, account_id, deployment.id, telegram_user_id, attempt)
        bot = await bots.get(session, account_id, deployment.bot_id)
        assert bot is not None  # the deployment's foreign key guarantees it
        metadata = {
            "account": str(account_id),
            "deployment": str(deployment.id),
            "chat": str(chat_id),
            "user": str(telegram_user_id),
            "bot": str(bot.id),
            "order": key,
        }
        if token_id is not None:
            metadata["token"] = str(token_id)
        assert deployment.price_amount is not None and deployment.price_currency is not None
        return await payments.create_once(
            session,
            account_id,
            deployment_id=deployment.id,
            idempotence_key=key,
            amount=deployment.price_amount,
            currency=deployment.price_currency,
            chat_id=chat_id,
            telegram_user_id=telegram_user_id,
            description=await _course_title(session, account_id, deployment),
            return_url=f"https://t.me/{bot.username}",
            metadata=metadata,
        )

    async def _submit(self, account_id: int, checkout: _Checkout) -> PaymentLink:
        row = checkout.payment
        try:
            raw = await self._client.create_payment(
                checkout.shop, row.idempotence_key, _request_body(row)
            )
            created = ProviderPayment.parse(raw)
        except YooKassaRejected as exc:
            log.warning(
                "YooKassa refused a payment of account %s: HTTP %s %s %s",
                account_id,
                exc.status,
                exc.code,
                exc.description,
            )
            if not isinstance(exc, YooKassaInvalidCredentials):
                # A definite refusal would repeat for this key forever: end the attempt, so
                # the student's next tap starts a fresh one instead of being stuck.
                await self._close_unattached(account_id, row.idempotence_key)
            raise PaymentProviderUnavailable("YooKassa refused to create the payment") from exc
        except (YooKassaError, ValueError) as exc:
            raise PaymentProviderUnavailable(f"YooKassa did not create the payment: {exc}") from exc
        if created.confirmation_url is None:
            raise PaymentProviderUnavailable("YooKassa returned no confirmation URL")
        async with self._db.tenant(account_id) as session:
            attached = await payments.attach_provider_payment(
                session,
                account_id,
                row.id,
                provider_payment_id=created.id,
                confirmation_url=created.confirmation_url,
            )
        assert attached is not None
        return _link(attached)

    async def _refresh(self, account_id: int, shop: ShopCredentials, row: Payment) -> bool:
        """Bring an earlier attempt up to date; False when its link should simply be reused."""
        assert row.provider_payment_id is not None
        try:
            fetched = ProviderPayment.parse(
                await self._client.get_payment(shop, row.provider_payment_id)
            )
        except YooKassaNotFound:
            # The shop does not know it (credentials switched to another shop): start afresh.
            await self._close_vanished(account_id, row.provider_payment_id)
            return True
        except (YooKassaError, ValueError):
            return False  # cannot tell now; the link we have is still the best answer
        result = await self._apply(account_id, fetched)
        return result.outcome is not Outcome.UNCHANGED

    async def _close_unattached(self, account_id: int, idempotence_key: str) -> None:
        async with self._db.tenant(account_id) as session:
            row = await payments.lock_unattached_by_idempotence_key(
                session, account_id, idempotence_key
            )
            if row is not None and row.status in payments.OPEN_STATUSES:
                await payments.set_status(session, account_id, row.id, PaymentStatus.CANCELED)

    async def _close_vanished(self, account_id: int, provider_payment_id: str) -> None:
        async with self._db.tenant(account_id) as session:
            row = await payments.lock_by_provider_id(session, account_id, provider_payment_id)
            if row is not None and row.status in payments.OPEN_STATUSES:
                await payments.set_status(session, account_id, row.id, PaymentStatus.CANCELED)

    def _idempotence_key(
        self,
        shop: ShopCredentials,
        account_id: int,
        deployment_id: int,
        telegram_user_id: int,
        attempt: int,
    ) -> str:
        message = f"{shop.shop_id}:{account_id}:{deployment_id}:{telegram_user_id}:{attempt}"
        return hmac.new(self._key_salt, message.encode(), hashlib.sha256).hexdigest()[:48]

    # --- notifications -------------------------------------------------------------------------

    async def handle_notification(
        self, account_id: int, body: object, client_ip: str | None
    ) -> NotificationResult:
        """Verify and apply one notification posted to the account's webhook URL.

        Raises PaymentProviderUnavailable when YooKassa cannot be asked: the caller answers
        5xx so that YooKassa delivers the notification again later.
        """
        if not 0 < account_id < _BIGINT_LIMIT:
            return _rejected("no such account")
        if self._check_ip and not is_yookassa_address(client_ip):
            return _rejected("sender address is not in YooKassa's networks")
        try:
            ref = parse_notification(body)
        except MalformedNotification as exc:
            return _rejected(str(exc))
        return await self.sync_payment(account_id, ref.payment_id)

    async def sync_payment(self, account_id: int, provider_payment_id: str) -> NotificationResult:
        """Mirror YooKassa's current state of one payment of this account (webhook or manual)."""
        shop = await self.get_credentials(account_id)
        if shop is None:
            return _rejected("payments are not configured for this account")
        try:
            raw = await self._client.get_payment(shop, provider_payment_id)
        except ValueError:
            return _rejected("not a payment id")
        except YooKassaNotFound:
            return _rejected("the account's shop has no such payment")
        except YooKassaInvalidCredentials:
            log.warning("YooKassa refused the credentials of account %s", account_id)
            return _rejected("the account's YooKassa credentials were refused")
        except YooKassaRejected as exc:
            return _rejected(f"YooKassa refused the lookup (HTTP {exc.status})")
        except YooKassaUnavailable as exc:
            raise PaymentProviderUnavailable(str(exc)) from exc
        try:
            fetched = ProviderPayment.parse(raw)
        except ValueError as exc:
            return _rejected(f"YooKassa returned a malformed payment: {exc}")
        if fetched.id != provider_payment_id:
            return _rejected("YooKassa answered about another payment")
        return await self._apply(account_id, fetched)

    async def _apply(self, account_id: int, fetched: ProviderPayment) -> NotificationResult:
        if str(fetched.metadata.get("account")) != str(account_id):
            return _rejected("the payment was not made for this account")
        async with self._db.tenant(account_id) as session:
            row = await payments.lock_by_provider_id(session, account_id, fetched.id)
            unattached = row is None
            if row is None:
                order = fetched.metadata.get("order")
                if isinstance(order, str):
                    row = await payments.lock_unattached_by_idempotence_key(
                        session, account_id, order
                    )
            if row is None:
                return _rejected("no such payment in this account")
            problem = mismatch(row.meta, row.amount, row.currency, fetched)
            if problem is not None:
                return _rejected(problem)
            if unattached:
                await payments.attach_provider_payment(
                    session,
                    account_id,
                    row.id,
                    provider_payment_id=fetched.id,
                    confirmation_url=fetched.confirmation_url,
                )
            before = RowState(PaymentStatus(row.status), row.refunded_amount)
            after = advance(before, fetched)
            if after == before:
                return NotificationResult(Outcome.UNCHANGED, f"payment is {after.status.value}")
            return await self._record(session, account_id, row, before, after)

    async def _record(
        self,
        session: AsyncSession,
        account_id: int,
        row: Payment,
        before: RowState,
        after: RowState,
    ) -> NotificationResult:
        user_id, chat_id, bot_id = row.telegram_user_id, row.chat_id, row.meta.get("bot")
        deployment_id = row.deployment_id
        had = user_id is not None and await payments.has_access(
            session, account_id, deployment_id, user_id
        )
        await payments.record_provider_state(
            session,
            account_id,
            row.id,
            status=after.status,
            refunded_amount=after.refunded_amount,
        )
        await record_events(session_execute(session), _payment_events(row, before, after))
        has = user_id is not None and await payments.has_access(
            session, account_id, deployment_id, user_id
        )
        reason = f"payment is {after.status.value}, refunded {after.refunded_amount}"
        change: AccessChange | None = None
        if has != had and user_id is not None and chat_id is not None and bot_id is not None:
            kind = GrantedAccess if has else RevokedAccess
            change = kind(
                account_id=account_id,
                bot_id=int(bot_id),
                chat_id=chat_id,
                deployment_id=row.deployment_id,
                telegram_user_id=user_id,
                payment_id=row.id,
                token_id=int(row.meta["token"]) if "token" in row.meta else None,
            )
        if change is None:
            return NotificationResult(Outcome.RECORDED, reason)
        log.info(
            "account %s payment %s: access %s for deployment %s",
            account_id,
            row.id,
            "granted" if has else "revoked",
            row.deployment_id,
        )
        if self._on_access_change is not None:
            await self._on_access_change(session, change)
        return NotificationResult(Outcome.GRANTED if has else Outcome.REVOKED, reason, change)

    # --- helpers -------------------------------------------------------------------------------

    async def _shop(self, session: AsyncSession, account_id: int) -> ShopCredentials | None:
        row = await payments.get_credentials(session, account_id)
        if row is None:
            return None
        return ShopCredentials(row.shop_id, payments.reveal_secret(row, self._box))

    async def _verify(self, shop: ShopCredentials) -> None:
        try:
            me = await self._client.me(shop)
        except YooKassaInvalidCredentials as exc:
            raise InvalidCredentials("YooKassa refused this shop id and secret key") from exc
        except (YooKassaError, ValueError) as exc:
            raise PaymentProviderUnavailable(f"could not check the credentials: {exc}") from exc
        if str(me.get("account_id", shop.shop_id)) != shop.shop_id:
            raise InvalidCredentials("the secret key belongs to another shop")


def _rejected(reason: str) -> NotificationResult:
    return NotificationResult(Outcome.REJECTED, reason)


def _link(row: Payment) -> PaymentLink:
    assert row.provider_payment_id is not None and row.confirmation_url is not None
    return PaymentLink(
        payment_id=row.id,
        provider_payment_id=row.provider_payment_id,
        confirmation_url=row.confirmation_url,
        amount=row.amount,
        currency=row.currency,
    )


def _request_body(row: Payment) -> dict[str, object]:
    """Built only from the stored row: a retry under the same key sends the same body."""
    return {
        "amount": {"value": f"{row.amount:.2f}", "currency": row.currency},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": row.return_url},
        "description": row.description,
        "metadata": row.meta,
    }


def _payment_events(row: Payment, before: RowState, after: RowState) -> list[HookEvent]:
    """What the accounts' webhooks hear of a payment's new state, written in its
    transaction: it succeeded, and/or more of it was refunded."""
    now = datetime.now(UTC)
    data = {
        "payment_id": row.id,
        "provider_payment_id": row.provider_payment_id,
        "deployment_id": row.deployment_id,
        "run_id": row.run_id,
        "chat_id": row.chat_id,
        "telegram_user_id": row.telegram_user_id,
        "amount": str(row.amount),
        "currency": row.currency,
        "refunded_amount": str(after.refunded_amount),
        "status": after.status.value,
    }
    events = []
    if after.status is PaymentStatus.SUCCEEDED and before.status is not PaymentStatus.SUCCEEDED:
        events.append(hook_event(row.account_id, "payment.succeeded", now, data))
    if after.refunded_amount > before.refunded_amount:
        events.append(hook_event(row.account_id, "payment.refunded", now, data))
    return events


async def _course_title(
    session: AsyncSession, account_id: int, deployment: CourseDeployment
) -> str:
    version = await courses.get_version(session, account_id, deployment.course_version_id)
    course = await courses.get(session, account_id, version.course_id) if version else None
    title = course.title if course is not None else f"Course #{deployment.id}"
    return title[:_DESCRIPTION_LIMIT]
