"""Composition root of `coursebot up | runner | panel`: what each kind of process is made of.

Kept apart from runner.py (argument parsing) so tests can start exactly what production
starts, against their own servers and the fake Bot API. A process is built from small
pieces: the stores every process opens, the Telegram runtime (`runner`, `up`), the panel app
(`panel`, `up`) or, for a runner alone, a small app with /health and /metrics only, so that
an orchestrator can probe it. Any number of each kind share one PostgreSQL and one Redis
(DESIGN §8): the runtime's bots are spread by leases (runtime/leases.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy import text

from adapters.llm import AccountLLM, Endpoint
from adapters.payments import PaymentsConfig, PaymentService, payments_router
from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.paid_access import paid_access
from adapters.telegram.runtime import TelegramRuntime, utc_now
from adapters.telegram.sender import RateLimits
from adapters.telegram.webhook import webhook_router
from adapters.webhooks import WebhookDelivery
from courses.workers import CourseWorkers
from observability.metrics import install_log_counter, metrics_router
from panel_api.app import create_app
from panel_api.context import PanelContext
from panel_api.health import Check, HealthProbe
from panel_api.settings import PanelSettings
from runtime.leases import LeaseKeeper
from storage import leases
from storage.config import Settings
from storage.crypto import SecretBox, load_secret_box
from storage.db import Database, open_database
from storage.outbound import OutboundClient


class Role(enum.StrEnum):
    UP = "up"  # runtime and panel in one process
    RUNNER = "runner"  # bots, timers, delivery; /health and /metrics only
    PANEL = "panel"  # API, pages, Telegram and YooKassa webhooks; no bots

    @property
    def runs_bots(self) -> bool:
        return self is not Role.PANEL

    @property
    def serves_panel(self) -> bool:
        return self is not Role.RUNNER


@dataclass
class Stores:
    """What every process opens: the database (migrated), Redis, the secret box, the guarded
    outbound client and the course workers."""

    db: Database
    redis: Redis
    box: SecretBox
    outbound: OutboundClient
    workers: CourseWorkers


@dataclass
class Process:
    role: Role
    app: FastAPI
    stores: Stores
    runtime: TelegramRuntime | None
    llm: AccountLLM | None
    payments: PaymentService
    webhooks: WebhookDelivery | None  # the accounts' outgoing webhooks, sent by runners

    @property
    def db(self) -> Database:
        return self.stores.db

    @property
    def redis(self) -> Redis:
        return self.stores.redis

    async def start(self) -> None:
        await self.stores.workers.start()
        if self.runtime is not None:
            await self.runtime.start()
        if self.webhooks is not None:
            self.webhooks.start()

    async def stop(self) -> None:
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.runtime is not None:
            await self.runtime.stop()  # hands the bot leases back first
        await self.stores.workers.close()
        if self.llm is not None:
            await self.llm.close()
        await self.payments.close()
        await self.stores.outbound.aclose()
        await self.stores.redis.aclose()
        await self.stores.db.dispose()


def listening_port(settings: Settings, role: Role) -> int:
    """A runner alone serves only /health and /metrics, on its own port."""
    return settings.runner_port if role is Role.RUNNER else settings.panel_port


def server_config(app: FastAPI, settings: Settings, role: Role = Role.UP) -> uvicorn.Config:
    """How the process's HTTP is served (a runner alone: its /health and /metrics on
    COURSEBOT_RUNNER_PORT). X-Forwarded-For and X-Forwarded-Proto are believed only from
    the proxies COURSEBOT_TRUSTED_PROXIES names: uvicorn's default believes any local peer,
    so any process on the machine could pose as any address (a YooKassa notification source,
    the address in the access log)."""
    proxies = list(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=settings.panel_host,
        port=listening_port(settings, role),
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


async def open_stores(settings: Settings) -> Stores:
    """Migrate (serialised across processes by an advisory lock) and connect as the app role."""
    box = load_secret_box(settings)
    db = await open_database(settings, box)
    return Stores(
        db=db,
        redis=Redis.from_url(settings.redis_url or ""),
        box=box,
        outbound=OutboundClient.allowing(settings.outbound_allow),
        workers=course_workers(settings),
    )


def build_runtime(
    stores: Stores, settings: Settings, llm: AccountLLM, payments: PaymentService
) -> TelegramRuntime:
    """The Telegram runtime of a runner: its bots are those its leases name."""
    keeper = LeaseKeeper(stores.db, ttl_s=settings.lease_ttl_s)
    runtime = TelegramRuntime(
        stores.db,
        stores.box,
        stores.redis,
        runtime_options(settings),
        workers=stores.workers,
        llm=llm,
        reconcile_interval_s=settings.lease_renew_s,
        leases=keeper,
    )
    runtime.payments = payments
    return runtime


def health_probe(stores: Stores, role: Role, runtime: TelegramRuntime | None) -> HealthProbe:
    """Ready means the process can do its job: both stores answer and, for a process with
    bots, it has joined the lease table and keeps its leases renewed."""

    async def database_ok() -> object:
        async with stores.db.system() as session:
            return await session.scalar(text("SELECT 1"))

    async def redis_ok() -> object:
        return await stores.redis.ping()

    checks: dict[str, Check] = {"database": database_ok, "redis": redis_ok}
    if runtime is None:
        return HealthProbe(checks, role=role.value)
    keeper = runtime.leases
    assert keeper is not None

    async def leases_ok() -> object:
        if not keeper.joined or keeper.expired:
            raise RuntimeError("not sharing the bots yet")
        return True

    async def facts() -> dict[str, Any]:
        hosted = runtime.pool.hosted
        async with stores.db.system() as session:
            oldest = await leases.oldest_unhandled_s(
                session, [(b.config.bot_id, b.config.account_id) for b in hosted]
            )
        return {
            "leases_held": len(keeper.held),
            "bots_hosted": len(hosted),
            "live_runners": keeper.live_runners,
            "share": keeper.target,
            "oldest_unhandled_update_s": oldest,
            "journal_queued": runtime.journal.queued,
        }

    checks["leases"] = leases_ok
    return HealthProbe(checks, role=role.value, facts=facts)


def runner_app(probe: HealthProbe) -> FastAPI:
    """A runner's only HTTP: /health for the orchestrator's probes (/metrics is added by
    the caller)."""
    app = FastAPI(title="coursebot runner", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def get_health() -> JSONResponse:
        report = await probe.check()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app


def panel_app(
    stores: Stores, settings: Settings, probe: HealthProbe, payments: PaymentService
) -> FastAPI:
    """The panel: API, web pages, Telegram webhooks (any panel stores the update and wakes
    the bot's lease holder) and YooKassa notifications."""
    app = create_app(
        PanelContext(
            db=stores.db,
            box=stores.box,
            settings=settings,
            panel=PanelSettings.from_settings(settings),
            health=probe,
            workers=stores.workers,
            outbound=stores.outbound,
            redis=stores.redis,
        )
    )
    app.include_router(webhook_router(stores.db, stores.box))
    app.include_router(payments_router(payments))
    return app


async def build_process(settings: Settings, role: Role = Role.UP) -> Process:
    """Migrate, connect as the app role, and assemble what `role` runs (not started yet)."""
    stores = await open_stores(settings)
    payments = PaymentService.from_config(
        stores.db, stores.box, PaymentsConfig.from_settings(settings), on_access_change=paid_access
    )
    llm: AccountLLM | None = None
    runtime: TelegramRuntime | None = None
    if role.runs_bots:
        llm = AccountLLM(
            stores.db,
            stores.box,
            default_llm_endpoint(settings),
            clock=utc_now,
            outbound=stores.outbound,
        )
        runtime = build_runtime(stores, settings, llm, payments)
    probe = health_probe(stores, role, runtime)
    app = panel_app(stores, settings, probe, payments) if role.serves_panel else runner_app(probe)
    if runtime is not None:
        app.include_router(
            metrics_router(
                lambda: runtime.pool.hosted,
                lambda: runtime.journal.queued,
                role=role.value,
                leases=runtime.leases,
            )
        )
    else:
        app.include_router(metrics_router(list, lambda: 0, role=role.value))
    install_log_counter()
    webhooks = (
        WebhookDelivery(stores.db, stores.box, stores.outbound, clock=utc_now)
        if role.runs_bots
        else None
    )
    return Process(role, app, stores, runtime, llm, payments, webhooks)
