"""Server-time budget of the web panel: with 10 000 runs (and ~72 000 conversation lines) in
the account, every page renders in under 300 ms.

Time is measured around the in-process ASGI call (no network, no browser): what the server
spends, from the request arriving to the last byte of the page. The account is the one the
panel latency benchmark seeds (benchmarks/panel_latency.py), so both measure the same data.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update

from benchmarks.panel_latency import OWNER
from benchmarks.panel_latency import seed as seed_bench_account
from storage.models import Bot, CourseDeployment, CourseVersion, Run
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_support import Browser, web_browser

pytestmark = pytest.mark.integration

RUNS = 10_000
BUDGET_MS = 300.0
WARM_UP = 2
SAMPLES = 7


@dataclass(frozen=True)
class Seeded:
    account_id: int
    course_id: int
    version_id: int
    deployment_id: int
    token_id: int
    run_id: int


@pytest.fixture(scope="module")
async def seeded(db, secret_box, test_database) -> Seeded:
    world = await seed_bench_account(db, secret_box, test_database.owner_url, RUNS)
    async with db.tenant(world.account_id) as session:
        version_id, course_id = (
            await session.execute(
                select(CourseVersion.id, CourseVersion.course_id)
                .join(CourseDeployment, CourseDeployment.course_version_id == CourseVersion.id)
                .where(CourseDeployment.id == world.deployment_id)
            )
        ).one()
        run_id = await session.scalar(
            select(Run.id).where(Run.account_id == world.account_id).order_by(Run.id.desc())
        )
        # Nothing hosts this bot in the tests (its token is made up): keep runtimes away.
        await session.execute(
            update(Bot).where(Bot.account_id == world.account_id).values(active=False)
        )
    return Seeded(
        world.account_id, course_id, version_id, world.deployment_id, world.token_id, run_id
    )


@pytest.fixture
async def browser(db, secret_box) -> AsyncIterator[Browser]:
    async with web_browser(panel_context(db, secret_box)) as client:
        await client.log_in(OWNER)
        yield client


def pages(s: Seeded) -> dict[str, str]:
    a = f"/accounts/{s.account_id}"
    d = f"{a}/deployments/{s.deployment_id}"
    return {
        "account picker": "/accounts",
        "overview": a,
        "bots": f"{a}/bots",
        "courses": f"{a}/courses",
        "course (versions)": f"{a}/courses/{s.course_id}",
        "version preview": f"{a}/courses/{s.course_id}/versions/{s.version_id}",
        "deployments": f"{a}/deployments",
        "deployment + tokens": d,
        "token QR code": f"{d}/tokens/{s.token_id}/qr.svg",
        "runs (page 1 of 200)": f"{a}/runs",
        "runs, filtered": f"{a}/runs?status=completed&deployment_id={s.deployment_id}"
        f"&token_id={s.token_id}&started_from=2000-01-01",
        "runs, last page": f"{a}/runs?offset=9950",
        "run transcript": f"{a}/runs/{s.run_id}",
        "students": f"{a}/students",
        "students, search": f"{a}/students?q=s1",
        "analytics": f"{d}/analytics?days=60",
        "analytics CSV (funnel)": f"{d}/analytics.csv?report=funnel",
        "analytics CSV (cohorts)": f"{d}/analytics.csv?report=cohorts&days=60",
    }


async def measure(browser: Browser, url: str) -> list[float]:
    samples = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = await browser.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return samples


async def test_every_page_renders_within_300_ms_with_10k_runs(seeded, browser, capsys):
    """The budget holds for each page's fastest of 7 requests: on a shared machine (other
    test suites, other services) that is the request least slowed by processes that are not
    the panel. Median and max are printed next to it, for the report."""
    results: dict[str, list[float]] = {}
    for name, url in pages(seeded).items():
        for _ in range(WARM_UP):
            warm = await browser.get(url)
            assert warm.status_code == 200, (name, warm.status_code, warm.text[:300])
        results[name] = await measure(browser, url)
    with capsys.disabled():
        print(f"\nweb panel server time, {RUNS} runs in the account ({SAMPLES} samples each)")
        print(f"{'page':28} {'fastest ms':>10} {'median ms':>10} {'max ms':>8}")
        for name, samples in results.items():
            print(
                f"{name:28} {min(samples):10.1f} {statistics.median(samples):10.1f}"
                f" {max(samples):8.1f}"
            )
    slow = {
        name: round(min(samples), 1)
        for name, samples in results.items()
        if min(samples) >= BUDGET_MS
    }
    assert slow == {}, f"pages over {BUDGET_MS} ms: {slow}"
