"""Paid deployments end to end: real PostgreSQL, the fake YooKassa over HTTP, our webhook
served by uvicorn, so notifications travel fake -> webhook -> re-fetch from the fake."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select, text

from adapters.payments import (
    AlreadyPaid,
    GrantedAccess,
    InvalidCredentials,
    NotForSale,
    Outcome,
    PaymentProviderUnavailable,
    PaymentsConfig,
    PaymentService,
    PaymentsNotConfigured,
    RevokedAccess,
    YooKassaClient,
    payments_router,
)
from adapters.payments.ip_allowlist import is_yookassa_address
from adapters.payments.yookassa import (
    ShopCredentials,
    YooKassaRejected,
)
from storage import webhooks
from storage.config import Settings
from storage.crypto import Secret, SecretBox
from storage.db import Database
from storage.models import Environment, Payment, WebhookDelivery
from storage.public_urls import notification_url
from storage.repositories import bots, courses, deployments
from storage.repositories import payments as payments_repo
from tests.fakes.yookassa_api import FakeYooKassa, Shop
from tests.integration.conftest import random_telegram_id

pytestmark = pytest.mark.integration


class AccessRecorder:
    """The runtime's hook, as a test double: remembers every access change it was told of."""

    def __init__(self) -> None:
        self.changes: list[GrantedAccess | RevokedAccess] = []
        self.fail_next = 0

    async def __call__(self, session, change) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("runtime could not start the course")
        # Runs inside the grant's own transaction, which already shows the new access.
        sees_access = await payments_repo.has_access(
            session, change.account_id, change.deployment_id, change.telegram_user_id
        )
        assert sees_access is isinstance(change, GrantedAccess)
        self.changes.append(change)

    def granted(self) -> list[GrantedAccess]:
        return [c for c in self.changes if isinstance(c, GrantedAccess)]

    def revoked(self) -> list[RevokedAccess]:
        return [c for c in self.changes if isinstance(c, RevokedAccess)]


@dataclass(frozen=True)
class School:
    account_id: int
    bot_id: int
    bot_username: str
    deployment_id: int
    shop: Shop


@dataclass
class Harness:
    kassa: FakeYooKassa
    service: PaymentService
    hook: AccessRecorder
    webhook_base: str
    db: Database
    make_account: Callable[..., Awaitable[int]]
    secret_box: SecretBox

    def url(self, account_id: int) -> str:
        return notification_url(self.webhook_base, account_id)

    async def school(
        self,
        shop: Shop | None = None,
        *,
        price: Decimal | None = Decimal("990.00"),
        configure: bool = True,
    ) -> School:
        """An account with a bot, a course deployed on it at `price`, and its own shop."""
        account_id = await self.make_account()
        username = f"school_{secrets.token_hex(4)}_bot"
        async with self.db.tenant(account_id) as s:
            bot = await bots.create(
                s,
                account_id,
                token=Secret(f"{random_telegram_id()}:AA{secrets.token_urlsafe(26)}"),
                box=self.secret_box,
                telegram_id=random_telegram_id(),
                username=username,
            )
            course = await courses.create(s, account_id, title="Дроби за неделю", slug="fractions")
            version = await courses.add_version(
                s,
                account_id,
                course.id,
                source_text="intro:\n  type: message\n  text: Hi\n",
                source_format="yaml",
                elements=[{"id": "intro", "type": "message", "text": "Hi"}],
                checksum="0" * 64,
            )
            deployment = await deployments.create(
                s,
                account_id,
                course_version_id=version.id,
                bot_id=bot.id,
                environment=Environment.PROD,
                price_amount=price,
                price_currency="RUB" if price is not None else None,
            )
        if shop is None:
            shop = self.kassa.add_shop()
        shop.webhook_url = self.url(account_id)
        if configure:
            await self.service.set_credentials(
                account_id, shop_id=shop.shop_id, secret_key=Secret(shop.secret_key)
            )
        return School(account_id, bot.id, username, deployment.id, shop)

    async def checkout(self, school: School, student: int, token_id: int | None = None):
        return await self.service.create_payment(
            school.account_id, school.deployment_id, student, student, school.bot_id, token_id
        )

    async def has_access(self, school: School, student: int) -> bool:
        async with self.db.tenant(school.account_id) as s:
            return await payments_repo.has_access(
                s, school.account_id, school.deployment_id, student
            )

    async def rows(self, school: School) -> list[Payment]:
        async with self.db.tenant(school.account_id) as s:
            stmt = select(Payment).where(Payment.deployment_id == school.deployment_id)
            return list((await s.scalars(stmt.order_by(Payment.id))).all())


@pytest.fixture
async def kassa() -> AsyncIterator[FakeYooKassa]:
    async with FakeYooKassa(hang_s=5.0) as fake:
        yield fake


async def _serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task, str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
async def harness(test_database, make_account, secret_box, kassa) -> AsyncIterator[Harness]:
    # The production pool size: 100 concurrent checkouts must queue for 10 connections
    # (none is held across an HTTP call), and a shared test server is not flooded.
    db = Database(test_database.app_url, pool_size=10, max_overflow=0)
    hook = AccessRecorder()
    client = YooKassaClient(kassa.base_url, timeout_s=2.0, attempts=3, backoff_s=0.01)
    service = PaymentService(db, secret_box, client, on_access_change=hook)
    app = FastAPI()
    app.include_router(payments_router(service))
    server, task, base = await _serve(app)
    try:
        yield Harness(kassa, service, hook, base, db, make_account, secret_box)
    finally:
        server.should_exit = True
        await task
        await service.close()
        await db.dispose()


def _post_auth_matches_metadata_shop(kassa: FakeYooKassa, shops: dict[str, Shop]) -> None:
    for request in kassa.requests_to("POST", "/v3/payments"):
        owner = shops[request.body["metadata"]["account"]]
        assert request.authorization == owner.authorization
        assert request.shop_id == owner.shop_id


# --- credentials ----------------------------------------------------------------------------------


async def test_credentials_are_checked_with_yookassa_and_stored_encrypted(harness, owner_engine):
    school = await harness.school()
    stranger = harness.kassa.add_shop()
    with pytest.raises(InvalidCredentials, match="refused"):
        await harness.service.set_credentials(
            school.account_id, shop_id=stranger.shop_id, secret_key=Secret("test_wrong-secret")
        )
    with pytest.raises(InvalidCredentials, match="digits"):
        await harness.service.set_credentials(
            school.account_id, shop_id="shop; DROP", secret_key=Secret(stranger.secret_key)
        )
    stored = await harness.service.get_credentials(school.account_id)
    assert stored is not None and stored.shop_id == school.shop.shop_id  # unchanged by refusals
    assert stored.secret_key == Secret(school.shop.secret_key)
    assert school.shop.secret_key not in repr(stored)
    async with owner_engine.connect() as conn:
        ciphertext = await conn.scalar(
            text("SELECT secret_ciphertext FROM payment_credentials WHERE account_id = :a"),
            {"a": school.account_id},
        )
    assert school.shop.secret_key not in ciphertext


async def test_the_api_base_comes_from_the_environment(harness, monkeypatch):
    school = await harness.school(configure=False)
    monkeypatch.setenv("YOOKASSA_API_BASE", harness.kassa.base_url)
    config = PaymentsConfig.from_settings(Settings.from_env())
    service = PaymentService.from_config(harness.db, harness.secret_box, config)
    try:  # a plain string secret, as the panel receives it in JSON
        await service.set_credentials(
            school.account_id, shop_id=school.shop.shop_id, secret_key=school.shop.secret_key
        )
    finally:
        await service.close()
    assert [r.shop_id for r in harness.kassa.requests_to("GET", "/v3/me")][-1] == (
        school.shop.shop_id
    )
    link = await harness.checkout(school, 1002)
    assert link.confirmation_url.endswith(link.provider_payment_id)


async def test_checkout_is_refused_clearly_when_it_cannot_be_offered(harness):
    school = await harness.school()
    free = await harness.school(price=None)
    with pytest.raises(NotForSale, match="free"):
        await harness.checkout(free, 1001)
    with pytest.raises(NotForSale):  # the deployment is not served by this bot
        await harness.service.create_payment(
            school.account_id, school.deployment_id, 1001, 1001, free.bot_id
        )
    unconfigured = await harness.school(configure=False)
    with pytest.raises(PaymentsNotConfigured):
        await harness.checkout(unconfigured, 1001)
    assert harness.kassa.requests_to("POST", "/v3/payments") == []


# --- concurrency across accounts ------------------------------------------------------------------


async def test_two_shops_take_fifty_payments_each_concurrently(harness):
    a = await harness.school()
    b = await harness.school()
    students = {
        a.account_id: range(7_000_001, 7_000_051),
        b.account_id: range(8_000_001, 8_000_051),
    }
    schools = {a.account_id: a, b.account_id: b}

    links = await asyncio.gather(
        *(
            harness.checkout(schools[account], student)
            for account, ids in students.items()
            for student in ids
        )
    )

    assert len({link.provider_payment_id for link in links}) == 100
    shops = {str(a.account_id): a.shop, str(b.account_id): b.shop}
    for school in (a, b):
        at_shop = harness.kassa.payments_of(school.shop)
        assert len(at_shop) == 50
        assert {p["metadata"]["account"] for p in at_shop} == {str(school.account_id)}
        assert {int(p["metadata"]["user"]) for p in at_shop} == set(students[school.account_id])
        assert {p["amount"]["value"] for p in at_shop} == {"990.00"}
        assert {p["confirmation"]["return_url"] for p in at_shop} == {
            f"https://t.me/{school.bot_username}"
        }
        rows = await harness.rows(school)
        assert {r.provider_payment_id for r in rows} == {p["id"] for p in at_shop}
    # Per-call credentials: each request carried the Basic auth of the shop of the account it
    # was made for.
    _post_auth_matches_metadata_shop(harness.kassa, shops)

    await asyncio.gather(*(harness.kassa.succeed(link.provider_payment_id) for link in links))

    assert [d.status for d in harness.kassa.deliveries] == [200] * 100
    for school in (a, b):
        for student in students[school.account_id]:
            assert await harness.has_access(school, student)
        other = b if school is a else a
        assert not await harness.has_access(school, next(iter(students[other.account_id])))
    granted = harness.hook.granted()
    assert len(granted) == 100
    assert {(g.account_id, g.bot_id, g.deployment_id) for g in granted} == {
        (a.account_id, a.bot_id, a.deployment_id),
        (b.account_id, b.bot_id, b.deployment_id),
    }
    assert {(g.account_id, g.telegram_user_id) for g in granted} == {
        (account, student) for account, ids in students.items() for student in ids
    }
    assert all(g.chat_id == g.telegram_user_id for g in granted)
    # Every verification GET went to the owning shop with that shop's credentials.
    for request in harness.kassa.requests_to("GET", "/v3/payments/"):
        payment_id = request.path.rsplit("/", 1)[1]
        assert request.shop_id == harness.kassa.shop_of(payment_id)


# --- idempotence ----------------------------------------------------------------------------------


async def test_a_double_tap_creates_one_payment(harness):
    school = await harness.school()
    links = await asyncio.gather(*(harness.checkout(school, 4242) for _ in range(20)))
    assert len({(link.provider_payment_id, link.confirmation_url) for link in links}) == 1
    assert len(harness.kassa.payments_of(school.shop)) == 1
    assert len(await harness.rows(school)) == 1
    keys = {r.idempotence_key for r in harness.kassa.requests_to("POST", "/v3/payments")}
    assert len(keys) == 1


async def test_a_tap_that_missed_the_other_taps_fresh_row_still_lands_on_it(harness, monkeypatch):
    """The interleaving a double tap can hit: tap B looks for an open attempt before tap A
    commits one, then derives its key after. B must still derive A's key."""
    school = await harness.school()
    first = await harness.checkout(school, 4343)

    async def saw_nothing_open(*args, **kwargs):
        return None

    monkeypatch.setattr(payments_repo, "open_for_student", saw_nothing_open)
    second = await harness.checkout(school, 4343)
    assert second == first
    assert len(harness.kassa.payments_of(school.shop)) == 1


async def test_a_lost_answer_is_retried_with_the_same_key_and_still_one_payment(harness):
    school = await harness.school()
    harness.kassa.fail_next(1, 500, after_commit=True)  # created, but the answer is lost
    link = await harness.checkout(school, 5151)
    posts = harness.kassa.requests_to("POST", "/v3/payments")
    assert [p.status for p in posts] == [500, 200]
    assert posts[0].idempotence_key == posts[1].idempotence_key
    assert posts[0].body == posts[1].body
    assert [p["id"] for p in harness.kassa.payments_of(school.shop)] == [link.provider_payment_id]


async def test_a_refused_attempt_does_not_block_the_students_next_tap(harness):
    school = await harness.school()
    harness.kassa.fail_next(1, 400)
    with pytest.raises(PaymentProviderUnavailable):
        await harness.checkout(school, 5252)
    link = await harness.checkout(school, 5252)
    posts = harness.kassa.requests_to("POST", "/v3/payments")
    assert [p.status for p in posts] == [400, 200]
    assert posts[0].idempotence_key != posts[1].idempotence_key
    assert [r.status for r in await harness.rows(school)] == ["canceled", "pending"]
    assert [p["id"] for p in harness.kassa.payments_of(school.shop)] == [link.provider_payment_id]


async def test_the_fake_refuses_a_reused_key_with_another_body(harness):
    shop = harness.kassa.add_shop()
    client = YooKassaClient(harness.kassa.base_url, attempts=1)
    body = {
        "amount": {"value": "100.00", "currency": "RUB"},
        "confirmation": {"type": "redirect", "return_url": "https://t.me/x"},
    }
    creds = ShopCredentials(shop.shop_id, Secret(shop.secret_key))
    try:
        first = await client.create_payment(creds, "key-1", body)
        again = await client.create_payment(creds, "key-1", body)
        with pytest.raises(YooKassaRejected) as refused:
            await client.create_payment(
                creds, "key-1", {**body, "amount": {"value": "1.00", "currency": "RUB"}}
            )
    finally:
        await client.close()
    assert again["id"] == first["id"]
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")


async def test_a_canceled_checkout_is_replaced_by_a_new_payment(harness):
    school = await harness.school()
    first = await harness.checkout(school, 6060)
    await harness.kassa.cancel(first.provider_payment_id)  # notified: row becomes canceled
    second = await harness.checkout(school, 6060)
    assert second.provider_payment_id != first.provider_payment_id
    rows = await harness.rows(school)
    assert [r.status for r in rows] == ["canceled", "pending"]
    assert rows[0].idempotence_key != rows[1].idempotence_key


async def test_an_expired_checkout_without_notification_is_noticed_on_the_next_tap(harness):
    school = await harness.school()
    first = await harness.checkout(school, 6161)
    await harness.kassa.cancel(first.provider_payment_id, notify=False)
    second = await harness.checkout(school, 6161)
    assert second.provider_payment_id != first.provider_payment_id
    assert [r.status for r in await harness.rows(school)] == ["canceled", "pending"]


async def test_a_lost_success_notification_is_recovered_when_the_student_taps_again(harness):
    school = await harness.school()
    link = await harness.checkout(school, 6262)
    await harness.kassa.succeed(link.provider_payment_id, notify=False)
    with pytest.raises(AlreadyPaid):
        await harness.checkout(school, 6262)
    assert await harness.has_access(school, 6262)
    assert [g.telegram_user_id for g in harness.hook.granted()] == [6262]


# --- forged and replayed notifications ------------------------------------------------------------


async def _post(url: str, body) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.post(url, json=body)).status_code


async def test_a_notification_for_an_unknown_payment_grants_nothing(harness):
    school = await harness.school()
    await harness.checkout(school, 7070)
    forged = {"id": str(uuid.uuid4()), "status": "succeeded", "paid": True, "metadata": {}}
    status = await harness.kassa.post_notification(
        harness.url(school.account_id), "payment.succeeded", forged
    )
    assert status == 200  # nothing for YooKassa to retry, nothing learned by a forger
    assert not await harness.has_access(school, 7070)
    result = await harness.service.handle_notification(
        school.account_id,
        {"type": "notification", "event": "payment.succeeded", "object": forged},
        "127.0.0.1",
    )
    assert result.outcome is Outcome.REJECTED
    assert harness.hook.changes == []


async def test_another_accounts_payment_posted_to_my_url_grants_nothing(harness):
    a = await harness.school()
    b = await harness.school()
    link_b = await harness.checkout(b, 7171)
    paid = await harness.kassa.succeed(link_b.provider_payment_id, notify=False)

    status = await harness.kassa.post_notification(
        harness.url(a.account_id), "payment.succeeded", paid
    )
    assert status == 200
    assert not await harness.has_access(a, 7171)
    assert not await harness.has_access(b, 7171)  # nor is B's payment applied through A's URL
    assert harness.hook.changes == []
    lookup = harness.kassa.requests_to("GET", f"/v3/payments/{link_b.provider_payment_id}")
    assert [(r.shop_id, r.status) for r in lookup] == [(a.shop.shop_id, 404)]

    # Delivered to the right URL, the same payment does grant access, in B only.
    assert await harness.kassa.notify(b.shop.shop_id, "payment.succeeded", paid) == 200
    assert await harness.has_access(b, 7171)
    assert [g.account_id for g in harness.hook.granted()] == [b.account_id]


async def test_accounts_sharing_one_shop_cannot_claim_each_others_payments(harness):
    shop = harness.kassa.add_shop()
    a = await harness.school(shop)
    b = await harness.school(shop)
    link_b = await harness.checkout(b, 7272)
    paid = await harness.kassa.succeed(link_b.provider_payment_id, notify=False)
    result = await harness.service.handle_notification(
        a.account_id, {"type": "notification", "event": "payment.succeeded", "object": paid}, None
    )
    assert result.outcome is Outcome.REJECTED
    assert result.reason == "the payment was not made for this account"
    assert not await harness.has_access(a, 7272)
    assert harness.hook.changes == []


async def test_a_body_claiming_success_is_not_believed_while_yookassa_says_pending(harness):
    school = await harness.school()
    link = await harness.checkout(school, 7373)
    claimed = harness.kassa.payment(link.provider_payment_id)
    claimed.update(status="succeeded", paid=True)
    status = await harness.kassa.post_notification(
        harness.url(school.account_id), "payment.succeeded", claimed
    )
    assert status == 200
    assert not await harness.has_access(school, 7373)
    assert [r.status for r in await harness.rows(school)] == ["pending"]
    result = await harness.service.handle_notification(
        school.account_id,
        {"type": "notification", "event": "payment.succeeded", "object": claimed},
        None,
    )
    assert result.outcome is Outcome.UNCHANGED
    assert harness.hook.changes == []


async def test_a_replayed_notification_changes_nothing(harness):
    school = await harness.school()
    link = await harness.checkout(school, 7474, token_id=31)
    paid = await harness.kassa.succeed(link.provider_payment_id)
    assert [g.token_id for g in harness.hook.granted()] == [31]  # attribution survives
    body = {"type": "notification", "event": "payment.succeeded", "object": paid}
    replays = await asyncio.gather(
        *(harness.service.handle_notification(school.account_id, body, None) for _ in range(5))
    )
    assert {r.outcome for r in replays} == {Outcome.UNCHANGED}
    assert await _post(harness.url(school.account_id), body) == 200
    assert len(harness.hook.granted()) == 1  # the course is not started a second time
    assert [r.status for r in await harness.rows(school)] == ["succeeded"]


async def test_malformed_bodies_are_refused_without_asking_yookassa(harness):
    school = await harness.school()
    url = harness.url(school.account_id)
    async with httpx.AsyncClient() as http:
        not_json = await http.post(url, content=b"{not json")
        huge = await http.post(url, content=b"[" + b"0," * 40_000 + b"0]")
    assert (not_json.status_code, huge.status_code) == (400, 413)
    path_trick = {"type": "notification", "event": "payment.succeeded", "object": {"id": "../me"}}
    assert await _post(url, path_trick) == 200
    assert await _post(url, {"type": "notification", "event": "payout.succeeded"}) == 200
    genuine_shape = {"type": "notification", "event": "payment.succeeded", "object": {"id": "x1"}}
    for account in (0, 2**70):
        assert await _post(harness.url(account), genuine_shape) == 200
    assert await _post(url.rsplit("/", 1)[0] + "/me", genuine_shape) == 422
    assert harness.kassa.requests_to("GET", "/v3/payments") == []


# --- refunds --------------------------------------------------------------------------------------


async def test_a_full_refund_revokes_access_and_a_partial_one_does_not(harness):
    school = await harness.school()
    link = await harness.checkout(school, 7575)
    await harness.kassa.succeed(link.provider_payment_id)
    assert await harness.has_access(school, 7575)

    # A partial refund made by the shop itself through YooKassa's API (POST /v3/refunds):
    # coursebot never refunds, it only learns of refunds.
    creds = await harness.service.get_credentials(school.account_id)
    amount = {"value": "100.00", "currency": "RUB"}
    body = {"payment_id": link.provider_payment_id, "amount": amount}
    async with httpx.AsyncClient() as shop:
        made = await shop.post(
            harness.kassa.base_url + "/refunds",
            json=body,
            auth=creds.auth(),
            headers={"Idempotence-Key": "refund-1"},
        )
    assert made.status_code == 200, made.text
    await harness.kassa.settle()
    assert harness.kassa.payment(link.provider_payment_id)["refunded_amount"]["value"] == "100.00"
    assert await harness.has_access(school, 7575)
    assert [r.refunded_amount for r in await harness.rows(school)] == [Decimal("100.00")]

    refund = await harness.kassa.refund(link.provider_payment_id)  # the remaining 890.00
    assert not await harness.has_access(school, 7575)
    revoked = harness.hook.revoked()
    assert [(r.account_id, r.telegram_user_id, r.deployment_id) for r in revoked] == [
        (school.account_id, 7575, school.deployment_id)
    ]
    replay = await harness.service.handle_notification(
        school.account_id,
        {"type": "notification", "event": "refund.succeeded", "object": refund},
        None,
    )
    assert replay.outcome is Outcome.UNCHANGED
    assert len(harness.hook.revoked()) == 1

    again = await harness.checkout(school, 7575)  # a refunded student may buy again
    assert again.provider_payment_id != link.provider_payment_id


# --- delivery guarantees --------------------------------------------------------------------------


async def test_yookassa_outage_during_verification_asks_for_redelivery(harness):
    school = await harness.school()
    link = await harness.checkout(school, 7676)
    paid = await harness.kassa.succeed(link.provider_payment_id, notify=False)
    harness.kassa.fail_next(3, 503)  # every attempt of the client's verification fails
    assert await harness.kassa.notify(school.shop.shop_id, "payment.succeeded", paid) == 503
    assert not await harness.has_access(school, 7676)
    assert await harness.kassa.notify(school.shop.shop_id, "payment.succeeded", paid) == 200
    assert await harness.has_access(school, 7676)


async def test_a_failing_runtime_hook_rolls_the_grant_back_for_redelivery(harness):
    school = await harness.school()
    link = await harness.checkout(school, 7777)
    harness.hook.fail_next = 1
    paid = await harness.kassa.succeed(link.provider_payment_id)
    assert harness.kassa.deliveries[-1].status == 500
    assert not await harness.has_access(school, 7777)
    assert [r.status for r in await harness.rows(school)] == ["pending"]
    assert await harness.kassa.notify(school.shop.shop_id, "payment.succeeded", paid) == 200
    assert await harness.has_access(school, 7777)
    assert [g.telegram_user_id for g in harness.hook.granted()] == [7777]


async def test_ip_allow_list_when_enabled(secret_box, harness):
    school = await harness.school()
    link = await harness.checkout(school, 7878)
    paid = await harness.kassa.succeed(link.provider_payment_id, notify=False)
    body = {"type": "notification", "event": "payment.succeeded", "object": paid}
    client = YooKassaClient(harness.kassa.base_url, attempts=1)
    strict = PaymentService(harness.db, secret_box, client, check_ip=True)
    try:
        gets_before = len(harness.kassa.requests_to("GET", "/v3/payments"))
        refused = await strict.handle_notification(school.account_id, body, "127.0.0.1")
        assert refused.outcome is Outcome.REJECTED
        assert len(harness.kassa.requests_to("GET", "/v3/payments")) == gets_before
        accepted = await strict.handle_notification(school.account_id, body, "185.71.76.7")
        assert accepted.outcome is Outcome.GRANTED
    finally:
        await strict.close()
    assert is_yookassa_address("::ffff:77.75.153.10")
    assert not is_yookassa_address("77.75.152.1")
    assert not is_yookassa_address("not an ip")


# --- outgoing webhooks ----------------------------------------------------------------------------


async def _hook_events(harness: Harness, school: School) -> list[dict]:
    async with harness.db.tenant(school.account_id) as s:
        rows = await s.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.account_id == school.account_id)
            .order_by(WebhookDelivery.id)
        )
        return [json.loads(row.body) for row in rows]


async def test_payments_reach_the_accounts_webhooks_with_their_change(harness):
    """payment.succeeded and payment.refunded are written in the verdict's own transaction:
    a verdict rolled back leaves no event, a replayed notification adds none."""
    school = await harness.school()
    async with harness.db.tenant(school.account_id) as s:
        await webhooks.add_endpoint(
            s,
            school.account_id,
            url="https://crm.example.com/hook",
            secret_ciphertext=harness.secret_box.encrypt(webhooks.new_secret()),
            events=["payment.succeeded", "payment.refunded"],
        )
    link = await harness.checkout(school, 7979)
    harness.hook.fail_next = 1
    paid = await harness.kassa.succeed(link.provider_payment_id)
    assert harness.kassa.deliveries[-1].status == 500
    assert await _hook_events(harness, school) == []  # rolled back with the grant
    assert await harness.kassa.notify(school.shop.shop_id, "payment.succeeded", paid) == 200
    assert await harness.kassa.notify(school.shop.shop_id, "payment.succeeded", paid) == 200
    await harness.kassa.refund(link.provider_payment_id)
    events = await _hook_events(harness, school)
    assert [e["type"] for e in events] == ["payment.succeeded", "payment.refunded"]
    [row] = await harness.rows(school)
    assert events[0]["data"] | {"refunded_amount": "990.00"} == events[1]["data"] | {
        "status": "succeeded"
    }
    assert events[0]["data"] == {
        "payment_id": row.id,
        "provider_payment_id": link.provider_payment_id,
        "deployment_id": school.deployment_id,
        "run_id": None,
        "chat_id": 7979,
        "telegram_user_id": 7979,
        "amount": "990.00",
        "currency": "RUB",
        "refunded_amount": "0.00",
        "status": "succeeded",
    }
    assert events[1]["data"]["refunded_amount"] == "990.00"
