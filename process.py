"""Composition root of `coursebot up`: stores, Telegram runtime and panel in one process.

Kept apart from runner.py (argument parsing) so tests can start exactly what production
starts, against their own servers and the fake Bot API.
"""

from __future__ import annotations

from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text

from adapters.llm import AccountLLM, Endpoint
from adapters.payments import PaymentsConfig, PaymentService, payments_router
from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime, utc_now
from adapters.telegram.sender import RateLimits
from adapters.webhooks import WebhookDelivery
from courses.workers import CourseWorkers
from observability.metrics import install_log_counter, metrics_router
from panel_api.app import create_app
from panel_api.context import PanelContext
from panel_api.health import HealthProbe
from panel_api.settings import PanelSettings
from storage.config import Settings
from storage.crypto import load_secret_box
from storage.db import Database, open_database
from storage.outbound import OutboundClient


@dataclass
class Process:
    app: FastAPI
    db: Database
    redis: Redis
    runtime: TelegramRuntime
    llm: AccountLLM
    payments: PaymentService
    outbound: OutboundClient
    workers: CourseWorkers
    webhooks: WebhookDelivery

    async def start(self) -> None:
        await self.workers.start()
        await self.runtime.start()
        self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()
        await self.runtime.stop()
        await self.workers.close()
        await self.llm.close()
        await self.payments.close()
        await self.outbound.aclose()
        await self.redis.aclose()
        await self.db.dispose()


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """How the panel is served. X-Forwarded-For and X-Forwarded-Proto are believed only from
    the proxies COURSEBOT_TRUSTED_PROXIES names: uvicorn's default believes any local peer,
    so any process on the machine could pose as any address (a YooKassa notification source,
    the address in the access log)."""
    proxies = list(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=settings.panel_host,
        port=settings.panel_port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's lines go through our handler: same format, redacted
        lifespan="on",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


def runtime_options(settings: Settings) -> RuntimeOptions:
    return RuntimeOptions(
        api_base=settings.telegram_api_base,
        public_base_url=settings.public_base_url,
        poll_timeout_s=settings.poll_timeout_s,
        rate_limits=RateLimits(
            chat_per_second=settings.chat_messages_per_second, chat_burst=settings.chat_burst
        ),
    )


def course_workers(settings: Settings) -> CourseWorkers:
    return CourseWorkers(
        processes=settings.course_workers,
        jobs_per_account=settings.course_jobs_per_account,
        queue_per_account=settings.course_queue_per_account,
    )


def default_llm_endpoint(settings: Settings) -> Endpoint | None:
    if not settings.llm_base_url:
        return None
    return Endpoint(
        settings.llm_base_url,
        settings.llm_api_key,
        settings.llm_model,
        timeout_s=settings.llm_timeout_s,
    )


async def build_process(settings: Settings) -> Process:
    """Migrate, connect as the app role, and assemble runtime + panel (not started yet)."""
    box = load_secret_box(settings)
    db = await open_database(settings, box)
    redis = Redis.from_url(settings.redis_url or "")
    outbound = OutboundClient.allowing(settings.outbound_allow)
    llm = AccountLLM(db, box, default_llm_endpoint(settings), clock=utc_now, outbound=outbound)
    workers = course_workers(settings)
    runtime = TelegramRuntime(db, box, redis, runtime_options(settings), workers=workers, llm=llm)
    payments = PaymentService.from_config(
        db, box, PaymentsConfig.from_settings(settings), on_access_change=runtime.paid_access
    )
    runtime.payments = payments

    async def database_ok() -> object:
        async with db.system() as session:
            return await session.scalar(text("SELECT 1"))

    async def redis_ok() -> object:
        return await redis.ping()

    health = HealthProbe({"database": database_ok, "redis": redis_ok})
    panel = PanelSettings.from_settings(settings)
    app = create_app(
        PanelContext(
            db=db,
            box=box,
            settings=settings,
            panel=panel,
            health=health,
            workers=workers,
            outbound=outbound,
            redis=redis,
        )
    )
    app.include_router(runtime.router)
    app.include_router(payments_router(payments))
    app.include_router(metrics_router(lambda: runtime.pool.hosted, lambda: runtime.journal.queued))
    install_log_counter()
    webhooks = WebhookDelivery(db, box, outbound, clock=utc_now)
    return Process(app, db, redis, runtime, llm, payments, outbound, workers, webhooks)
