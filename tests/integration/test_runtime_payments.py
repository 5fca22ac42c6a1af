"""Paid deployments through the runtime: a start offers a checkout link, the paid
notification starts the course by itself, a refund ends the access."""

from __future__ import annotations

import asyncio
import socket
import time
from decimal import Decimal

import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from adapters.payments import PaymentService, YooKassaClient, payments_router
from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from tests.course_files import fixture_text
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.yookassa_api import FakeYooKassa
from tests.integration.runtime_support import (
    ShiftableClock,
    active_run,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    latest_run,
)

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_paid_course_starts_after_payment_and_ends_on_refund(
    db, secret_box, service_urls, make_account
):
    port = free_port()
    clock = ShiftableClock()
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake, FakeYooKassa() as kassa:
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(
                api_base=fake.base_url,
                poll_timeout_s=1,
                rate_limits=RateLimits(chat_per_second=200.0),
                sweep_interval_s=0.5,
            ),
            workers=shared_course_workers(),
            clock=clock,
            reconcile_interval_s=0.3,
        )
        payments = PaymentService(
            db, secret_box, YooKassaClient(kassa.base_url), on_access_change=runtime.paid_access
        )
        runtime.payments = payments
        app = FastAPI()
        app.include_router(payments_router(payments))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        await runtime.start()
        try:
            account_id = await make_account()
            shop = kassa.add_shop(
                webhook_url=f"http://127.0.0.1:{port}/api/v1/payments/yookassa/{account_id}"
            )
            await payments.set_credentials(
                account_id, shop_id=shop.shop_id, secret_key=shop.secret_key
            )
            fake_bot = fake.add_bot()
            bot_id = await add_bot(db, secret_box, account_id, fake_bot)
            source = fixture_text("chat_basics.yaml")
            version_id = await add_course_version(db, account_id, source, "paid")
            deployment_id = await deploy(
                db,
                account_id,
                version_id,
                bot_id,
                price_amount=Decimal("990.00"),
                price_currency="RUB",
            )
            token = await add_token(db, account_id, deployment_id)
            deadline = time.monotonic() + 5
            while runtime.pool.get(bot_id) is None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)

            user = 9_100_001
            fake.push_start(fake_bot, user, f"cd_{deployment_id}_{token}")
            offer = await fake.wait_for(
                lambda: next((s for s in fake.sent_to(user) if s.buttons), None), 10
            )
            assert "990" in (offer.text or "")
            assert offer.buttons[0].get("url"), "a checkout link button"
            assert await latest_run(db, account_id, user) is None, "no course before payment"

            [payment] = kassa.payments_of(shop)
            assert payment["metadata"]["deployment"] == str(deployment_id)
            await kassa.succeed(payment["id"])  # YooKassa notifies our webhook
            await fake.wait_for(
                lambda: any("бот-тренер" in (s.text or "") for s in fake.sent_to(user)), 10
            )
            run = await active_run(db, account_id, bot_id, user)
            assert run is not None and run.deployment_id == deployment_id

            # A replayed notification starts nothing new.
            await kassa.notify(shop.shop_id, "payment.succeeded", kassa.payment(payment["id"]))
            await asyncio.sleep(1)
            assert (await active_run(db, account_id, bot_id, user)).id == run.id

            await kassa.refund(payment["id"])
            await fake.wait_for(
                lambda: any("возвращена" in (s.text or "") for s in fake.sent_to(user)), 10
            )
            assert await active_run(db, account_id, bot_id, user) is None
        finally:
            await runtime.stop()
            await payments.close()
            server.should_exit = True
            await serving
    await redis.aclose()
