"""Panel latency with 10k runs in the database: p50/p95 of the main API list endpoints and
of every web panel page (goal: each page under 300 ms of server time).

Absolute milliseconds depend on the machine, so the same run measures two baselines through
the same in-process ASGI client: `/health` (no database) and `GET /accounts/{id}` (session
lookup + membership + one read: the fixed cost of every account route). Each endpoint
is reported as p50/p95 and as a ratio of its p50 to the account baseline. Web pages are
timed the same way (in-process ASGI: server time from request to the last byte, no network,
no browser) and checked against the 300 ms budget at p95.

    python -m benchmarks.panel_latency [--runs 10000] [--requests 200]

Seeds one account with a 10-element course, one deployment, three tokens, `--runs` runs
(half completed, a fifth stopped, the rest active; spread over 60 days) and ~8 conversation
lines per run, in a scratch database that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from benchmarks.services import add_server_arguments, scratch_database, servers
from courses.loader import load_course
from engine.model import course_to_elements
from engine.state import RunState
from panel_api.app import create_app
from panel_api.auth import sessions
from panel_api.context import PanelContext
from panel_api.health import HealthProbe
from panel_api.settings import PanelSettings
from process import course_workers
from storage import system
from storage.config import Settings
from storage.crypto import Secret, SecretBox
from storage.db import Database
from storage.models import Conversation, Participant, Run
from storage.repositories import bots, deployments, members, tokens
from storage.repositories import courses as course_repo

OWNER = 500_000_001
COURSE = "\n".join(
    [
        *(f"step_{i}:\n  type: message\n  text: Step {i}\n  button: Next\n" for i in range(1, 6)),
        *(
            f"q_{i}:\n  type: quiz\n  text: Q{i}?\n  answers:\n"
            f"    - text: right\n      correct: yes\n    - text: wrong\n"
            for i in range(1, 4)
        ),
        'result:\n  type: test\n  prefix: q_\n  text: "{score}/{maxscore}"\n'
        "  score:\n    0: Great\n    100: Again\n",
        "end:\n  type: end\n  text: Bye\n",
    ]
)


WEB_BUDGET_MS = 300.0


@dataclass(frozen=True)
class Seeded:
    account_id: int
    course_id: int
    version_id: int
    deployment_id: int
    token_id: int
    last_run_id: int


async def seed(db: Database, box: SecretBox, owner_url: str, runs: int) -> Seeded:
    course = load_course(COURSE).course
    assert course is not None
    element_ids = list(course.ids)
    async with db.system() as s:
        account = await system.create_account(s, slug="bench-school", name="Bench", plan="free")
        await members.add(s, account.id, telegram_user_id=OWNER, role="owner")
        account_id = account.id
    async with db.tenant(account_id) as s:
        bot = await bots.create(
            s,
            account_id,
            token=Secret("8000000001:" + "b" * 35),
            box=box,
            telegram_id=8_000_000_001,
            username="bench_school_bot",
        )
        row = await course_repo.create(s, account_id, title="Bench", slug="bench")
        version = await course_repo.add_version(
            s,
            account_id,
            row.id,
            source_text=COURSE,
            source_format="yaml",
            elements=course_to_elements(course),
            checksum="0" * 64,
        )
        deployment = await deployments.create(
            s, account_id, course_version_id=version.id, bot_id=bot.id, environment="prod"
        )
        made = [
            await tokens.create(
                s,
                account_id,
                deployment_id=deployment.id,
                kind="public",
                utm={"source": src},
                label=f"{src} ad",
            )
            for src in ("vk", "tg", "mail")
        ]
    rng = random.Random(7)
    now = datetime.now(UTC)
    async with db.tenant(account_id) as s:
        students = 2_000
        await s.execute(
            insert(Participant),
            [
                {"account_id": account_id, "telegram_user_id": 10_000 + i, "username": f"s{i}"}
                for i in range(students)
            ],
        )
        participant_ids = list(
            await s.scalars(text("SELECT id FROM participant ORDER BY telegram_user_id"))
        )
        run_rows = []
        for n in range(runs):
            roll = rng.random()
            status = "completed" if roll < 0.5 else "stopped" if roll < 0.7 else "active"
            started = now - timedelta(days=rng.uniform(0, 60))
            token = rng.choice([*made, None])
            run_rows.append(
                {
                    "account_id": account_id,
                    "deployment_id": deployment.id,
                    "course_version_id": version.id,
                    "bot_id": bot.id,
                    "chat_id": 1_000_000 + n,
                    "telegram_user_id": 10_000 + n % students,
                    "participant_id": participant_ids[n % students],
                    "token_id": token.id if token else None,
                    "utm_source": token.utm_source if token else None,
                    "status": status,
                    "is_active": status == "active",
                    "started_at": started,
                    "finished_at": None if status == "active" else started + timedelta(hours=2),
                    "state": RunState(current=element_ids[0]).to_dict(),
                }
            )
        for chunk in range(0, runs, 2_000):
            await s.execute(insert(Run), run_rows[chunk : chunk + 2_000])
        run_ids = list(await s.scalars(text("SELECT id FROM run ORDER BY id")))
        lines = []
        for run_id, spec in zip(run_ids, run_rows, strict=True):
            depth = len(element_ids) if spec["status"] == "completed" else rng.randint(1, 8)
            for element_id in element_ids[:depth]:
                scored = element_id == "result"
                lines.append(
                    {
                        "account_id": account_id,
                        "run_id": run_id,
                        "element_id": element_id,
                        "role": "bot",
                        "text": f"shown {element_id}",
                        "score": float(rng.randint(0, 3)) if scored else None,
                        "maxscore": 3.0 if scored else None,
                    }
                )
        for chunk in range(0, len(lines), 5_000):
            await s.execute(insert(Conversation), lines[chunk : chunk + 5_000])
    engine = create_async_engine(owner_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return Seeded(account_id, row.id, version.id, deployment.id, made[0].id, run_ids[-1])


async def measure(client: httpx.AsyncClient, url: str, headers: dict, n: int) -> list[float]:
    for _ in range(max(n // 10, 3)):  # warm-up: pools, prepared statements, caches
        (await client.get(url, headers=headers)).raise_for_status()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def api_endpoints(world: Seeded) -> dict[str, str]:
    account = f"/api/v1/accounts/{world.account_id}"
    since = quote((datetime.now(UTC) - timedelta(days=7)).isoformat())
    analytics = f"{account}/deployments/{world.deployment_id}/analytics"
    return {
        "baseline: /health": "/health",
        "baseline: GET account": account,
        "runs (page of 50)": f"{account}/runs",
        "runs ?status&deployment&since": (
            f"{account}/runs?status=completed&deployment_id={world.deployment_id}"
            f"&started_from={since}"
        ),
        "runs ?token_id": f"{account}/runs?token_id={world.token_id}",
        "students (page of 50)": f"{account}/students",
        "analytics funnel": f"{analytics}/funnel",
        "analytics conversion": f"{analytics}/conversion",
        "analytics cohorts": f"{analytics}/cohorts?days=60",
        "analytics scores": f"{analytics}/scores",
        "analytics timeline": f"{analytics}/timeline?days=60",
        "analytics answers": f"{analytics}/answers",
        "dashboard": f"{account}/dashboard",
        "a student's gradebook": f"{account}/students/10000/gradebook",
        "runs CSV export (all)": f"{account}/runs/export.csv",
    }


def web_pages(world: Seeded) -> dict[str, str]:
    a = f"/accounts/{world.account_id}"
    d = f"{a}/deployments/{world.deployment_id}"
    return {
        "account picker": "/accounts",
        "overview": a,
        "bots": f"{a}/bots",
        "courses": f"{a}/courses",
        "course (versions)": f"{a}/courses/{world.course_id}",
        "version preview": f"{a}/courses/{world.course_id}/versions/{world.version_id}",
        "deployments": f"{a}/deployments",
        "deployment + tokens": d,
        "token QR code": f"{d}/tokens/{world.token_id}/qr.svg",
        "runs (page 1 of 200)": f"{a}/runs",
        "runs, filtered": f"{a}/runs?status=completed&deployment_id={world.deployment_id}"
        f"&token_id={world.token_id}&started_from=2000-01-01",
        "runs, last page": f"{a}/runs?offset=9950",
        "runs, stuck": f"{a}/runs?status=stuck",
        "runs, by link label": f"{a}/runs?token=VK%20ad&student=s1",
        "run transcript": f"{a}/runs/{world.last_run_id}",
        "students": f"{a}/students",
        "students, search": f"{a}/students?q=s1",
        "student gradebook": f"{a}/students/10000",
        "settings": f"{a}/settings",
        "analytics": f"{d}/analytics?days=60",
        "analytics CSV (funnel)": f"{d}/analytics.csv?report=funnel",
        "analytics CSV (cohorts)": f"{d}/analytics.csv?report=cohorts&days=60",
    }


def print_table(title: str, results: dict[str, list[float]], base: float) -> None:
    print(f"\n{title:34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50/baseline':>13}")
    for name, samples in results.items():
        p50 = statistics.median(samples)
        print(f"{name:34} {p50:8.2f} {p95(samples):8.2f} {max(samples):8.2f} {p50 / base:12.1f}x")


async def main_async(args: argparse.Namespace) -> None:
    with servers(args.database_url, args.redis_url) as urls:
        async with scratch_database(urls.database_url) as bench:
            db = Database(bench.app_url, pool_size=10, max_overflow=10)
            workers = course_workers(Settings())
            try:
                await workers.start()
                seeded_at = time.perf_counter()
                world = await seed(db, bench.box, bench.owner_url, args.runs)
                print(f"seeded {args.runs} runs in {time.perf_counter() - seeded_at:.1f}s")
                ctx = PanelContext(
                    db=db,
                    box=bench.box,
                    settings=Settings(),
                    panel=PanelSettings(),
                    health=HealthProbe({}),
                    workers=workers,
                )
                token = await sessions.start(ctx, OWNER, None)
                headers = {"Cookie": f"{sessions.COOKIE_NAME}={token}"}
                web_headers = {**headers, "Accept": "text/html", "Accept-Language": "en"}
                transport = httpx.ASGITransport(app=create_app(ctx))
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                    api = {}
                    for name, url in api_endpoints(world).items():
                        n = args.requests // 10 if "CSV" in name else args.requests
                        api[name] = await measure(client, url, headers, n)
                    web = {}
                    for name, url in web_pages(world).items():
                        web[name] = await measure(client, url, web_headers, args.requests // 4)
            finally:
                await workers.close()
                await db.dispose()
    base = statistics.median(api["baseline: GET account"])
    print_table("API endpoint", api, base)
    print_table("web page", web, base)
    over = [name for name, samples in web.items() if p95(samples) >= WEB_BUDGET_MS]
    verdict = "met" if not over else f"NOT met: {', '.join(over)}"
    print(f"\ngoal: every web page p95 < {WEB_BUDGET_MS:g} ms with {args.runs} runs: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    add_server_arguments(parser)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
