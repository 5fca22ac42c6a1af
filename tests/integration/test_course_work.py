"""No tenant stalls the process with course work (DESIGN §10): parsing, validating, exporting
and previewing run in worker processes, within a per-account limit, while the event loop
keeps serving every other account's students and pages."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from botapi.deeplink import build_start_payload
from courses.workers import CourseWorkBusyError, CourseWorkers
from panel_api.services.course_work import BUSY
from storage.models import ProcessedUpdate
from storage.repositories import courses
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeBot, FakeTelegram
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import add_bot, add_course_version, add_token, deploy
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration

TINY = "hello:\n  type: message\n  text: Hi\n"


@dataclass(frozen=True)
class Deployed:
    account_id: int
    bot_id: int
    fake_bot: FakeBot
    version_id: int
    payload: str


def big_course(elements: int, first: str = "") -> str:
    """`first` (an element's YAML), then `elements` messages that need no answer."""
    return first + "".join(f"m{i}:\n  type: message\n  text: x\n" for i in range(elements))


def wait_for_file(path: str) -> str:
    """A job that holds its worker until the test lets it go (runs in a worker process)."""
    while not os.path.exists(path):
        time.sleep(0.01)
    return path


def die() -> None:
    """A job whose worker process dies under it (as when the kernel kills it)."""
    os._exit(3)


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


@pytest.fixture
async def limited_workers() -> AsyncIterator[CourseWorkers]:
    """One job per account at a time, one more waiting: anything beyond is refused."""
    workers = CourseWorkers(processes=2, jobs_per_account=1, queue_per_account=1)
    await workers.start()
    yield workers
    await workers.close()


async def test_course_work_runs_in_worker_processes_that_yield_the_cpu():
    workers = shared_course_workers()
    assert await workers.run(1, os.getpid) != os.getpid()
    assert await workers.run(1, os.nice, 0) > os.nice(0)  # lower priority than the loop's


async def test_an_account_over_its_share_waits_then_is_refused_while_others_go_on(
    limited_workers, tmp_path: Path
):
    gate = tmp_path / "open"
    first = asyncio.create_task(limited_workers.run(1, wait_for_file, str(gate)))
    second = asyncio.create_task(limited_workers.run(1, os.getpid))
    await until(lambda: limited_workers.jobs(1) == 2)
    with pytest.raises(CourseWorkBusyError):
        await limited_workers.run(1, os.getpid)
    assert await limited_workers.run(2, os.getpid) > 0  # another account is not held up
    assert not second.done()  # the account's second job waits for its first
    gate.touch()
    assert await first == str(gate)
    assert await second > 0
    assert limited_workers.jobs(1) == 0


async def test_a_worker_that_dies_fails_its_job_and_new_workers_take_over(limited_workers):
    with pytest.raises(BrokenProcessPool):
        await limited_workers.run(1, die)
    assert await limited_workers.run(1, os.getpid) > 0
    assert limited_workers.jobs(1) == 0


async def test_a_heavy_export_by_one_tenant_leaves_other_tenants_served(
    db, secret_box, make_account, limited_workers
):
    """While tenant B's 30,000-element course is exported, tenant A's page and A's own course
    check are answered; B's extra requests wait, and beyond B's queue they get a 429."""
    owner_a, owner_b = random_telegram_id(), random_telegram_id()
    account_a = await make_account(owner_telegram_user_id=owner_a)
    account_b = await make_account(owner_telegram_user_id=owner_b)
    ctx = panel_context(db, secret_box, workers=limited_workers)
    as_a, as_b = await user_headers(ctx, owner_a), await user_headers(ctx, owner_b)
    api_a, api_b = f"/api/v1/accounts/{account_a}", f"/api/v1/accounts/{account_b}"
    async with panel_client(ctx) as client:
        uploaded = await client.post(
            f"{api_b}/courses",
            json={"title": "Huge", "source": big_course(30_000)},
            headers=as_b,
        )
        assert uploaded.status_code == 201, uploaded.text
        course_id, version_id = uploaded.json()["course"]["id"], uploaded.json()["version"]["id"]
        assert uploaded.json()["version"]["elements_count"] == 30_000

        export = asyncio.create_task(
            client.get(
                f"{api_b}/courses/{course_id}/versions/{version_id}/export?normalised=true",
                headers=as_b,
            )
        )
        await until(lambda: limited_workers.jobs(account_b) == 1)
        page = await client.get(api_a, headers=as_a)
        checked = await client.post(
            f"{api_a}/courses/validate", json={"source": TINY}, headers=as_a
        )
        assert (page.status_code, checked.status_code) == (200, 200)
        assert checked.json()["ok"] is True
        assert not export.done()

        queued = asyncio.create_task(
            client.post(f"{api_b}/courses/validate", json={"source": TINY}, headers=as_b)
        )
        await until(lambda: limited_workers.jobs(account_b) == 2)
        refused = await client.post(
            f"{api_b}/courses/validate", json={"source": TINY}, headers=as_b
        )
        assert refused.status_code == 429
        assert refused.json() == {"detail": BUSY}
        assert not export.done() and not queued.done()

        exported = await export
        assert exported.status_code == 200
        assert exported.text.startswith("m0:\n  type: message\n  text: x\n")
        assert exported.text.count("type: message") == 30_000
        assert (await queued).status_code == 200


async def test_a_course_being_built_for_one_tenant_holds_up_no_other_tenants_students(
    db, secret_box, make_account, service_urls, limited_workers, tmp_path: Path
):
    """Tenant B's student starts a 20,000-element course the process has not built yet, while
    every worker is busy; tenant A's student, who starts after B's update was taken in, is
    answered (A's small course is built on the spot, with no worker), and B's student once
    a worker has built B's course."""
    gate = tmp_path / "open"
    busy = [
        asyncio.create_task(limited_workers.run(account, wait_for_file, str(gate)))
        for account in (-1, -2)
    ]
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake:
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(
                api_base=fake.base_url,
                poll_timeout_s=1,
                rate_limits=RateLimits(chat_per_second=200.0, bot_per_second=500.0),
            ),
            workers=limited_workers,
            reconcile_interval_s=0.3,
        )
        await runtime.start()
        try:
            welcome = "intro:\n  type: message\n  text: Welcome\n  button: Go\n"
            heavy = await _deployed(fake, db, secret_box, make_account, big_course(20_000, welcome))
            light = await _deployed(fake, db, secret_box, make_account, TINY)
            await until(lambda: all(runtime.pool.get(c.bot_id) for c in (heavy, light)))
            student_b, student_a = random_telegram_id(), random_telegram_id()

            fake.push_start(heavy.fake_bot, student_b, heavy.payload)
            await until(lambda: runtime.courses.loading(heavy.version_id) is not None)
            fake.push_start(light.fake_bot, student_a, light.payload)
            answered = await fake.wait_for_sent(student_a, bot=light.fake_bot, timeout=60)
            assert answered[0].text == "Hi"
            assert fake.sent_to(student_b, heavy.fake_bot) == []

            gate.touch()
            first = await fake.wait_for_sent(student_b, bot=heavy.fake_bot, timeout=120)
            assert first[0].text == "Welcome"
        finally:
            gate.touch()
            await asyncio.gather(*busy)
            await runtime.stop()
            await redis.aclose()


async def test_a_version_that_does_not_build_fails_its_updates_and_is_not_built_again(
    db, secret_box, make_account, service_urls
):
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake:
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(api_base=fake.base_url, poll_timeout_s=1),
            workers=shared_course_workers(),
            reconcile_interval_s=0.3,
        )
        await runtime.start()
        try:
            nowhere = [{"id": "hello", "type": "delay", "wait": "1h", "goto": "nowhere"}]
            broken = await _deployed(
                fake, db, secret_box, make_account, TINY, stored_elements=nowhere
            )
            await until(lambda: runtime.pool.get(broken.bot_id) is not None)
            students = [random_telegram_id(), random_telegram_id()]
            for student in students:
                fake.push_start(broken.fake_bot, student, broken.payload)
            errors = await _update_errors(db, broken, count=2)
            assert all("does not load" in e for e in errors)
            assert runtime.courses.known(broken.version_id)
            assert runtime.courses.cached(broken.version_id) is None
        finally:
            await runtime.stop()
            await redis.aclose()


async def _deployed(
    fake: FakeTelegram,
    db,
    secret_box,
    make_account,
    source: str,
    *,
    stored_elements: list[dict[str, str]] | None = None,
) -> Deployed:
    """A new account's bot deploying `source` (stored with the elements `stored_elements`
    instead, when given: a version that no longer builds)."""
    account_id = await make_account()
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, f"c{bot_id}")
    if stored_elements is not None:
        async with db.tenant(account_id) as session:
            version = await courses.get_version(session, account_id, version_id)
            assert version is not None
            version_id = (
                await courses.add_version(
                    session,
                    account_id,
                    version.course_id,
                    source_text=source,
                    source_format="yaml",
                    elements=stored_elements,
                    checksum="0" * 64,
                )
            ).id
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    return Deployed(
        account_id, bot_id, fake_bot, version_id, build_start_payload(deployment_id, token)
    )


async def _update_errors(db, course: Deployed, *, count: int) -> list[str]:
    async def errors() -> list[str]:
        async with db.tenant(course.account_id) as session:
            found = await session.scalars(
                select(ProcessedUpdate.error).where(
                    ProcessedUpdate.account_id == course.account_id,
                    ProcessedUpdate.bot_id == course.bot_id,
                    ProcessedUpdate.error.is_not(None),
                )
            )
            return list(found)

    deadline = time.monotonic() + 60
    while len(found := await errors()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {count} updates failed")
        await asyncio.sleep(0.1)
    return found
