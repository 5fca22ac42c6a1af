"""Noisy neighbour: tenant A's students start a course while tenant B hammers the heaviest
course operations of the panel on a 30,000-element course, in the same process.

The process under test is `python -m runner up`, as the README starts it, in a process of
its own: Telegram runtime and panel together, against a scratch database, Redis and the fake
Bot API (tests/fakes/telegram_api.py), which runs here, in the benchmark's process, with the
students and tenant B's HTTP clients. Nothing that measures shares the measured event loop.

Tenant A's students each send `/start` with A's deep link, one every `--interval` seconds;
a student's latency runs from the update being queued at the Bot API to the first message
the bot sends that student arriving there. The same students' starts are measured twice in
one run: idle, and while tenant B runs `--parallel` loops over HTTP, each repeating, in
turn: the normalised YAML export by a viewer's API key; a validation and a new version
uploaded by a creator's API key; the version page with its preview, as B's owner.

    python -m benchmarks.noisy_neighbour [--students 100] [--elements 30000] [--parallel 4]

Goal (issue [8]): A's first reply under load at most 1.5 s, and its p99 at most twice the
idle p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.report import Column, machine_line, percentile, ratio, render_table
from benchmarks.services import BenchDatabase, add_server_arguments, scratch_database, servers
from botapi.deeplink import build_start_payload
from storage import system
from storage.crypto import Secret
from storage.db import Database
from storage.repositories import bots, courses, deployments, members, tokens
from tests.fakes.telegram_api import FakeBot, FakeTelegram
from tests.integration.test_panel_support import LOGIN_BOT_TOKEN
from tests.integration.test_web_support import Browser

REPO = Path(__file__).resolve().parents[1]
GOAL_MAX_S = 1.5
GOAL_P99_RATIO = 2.0
OWNER_A, OWNER_B = 910_000_001, 910_000_002
FIRST_STUDENT = 920_000_000
WELCOME = "Welcome! Tap Go to begin."
A_COURSE = f"""\
intro:
  type: message
  text: {WELCOME}
  button: Go
bye:
  type: end
  text: Bye
"""


def heavy_course(elements: int, tag: str = "x") -> str:
    """Messages that need no answer: the largest course per byte the loader accepts."""
    return "".join(f"m{i}:\n  type: message\n  text: {tag}\n" for i in range(elements))


@dataclass
class Tenants:
    a_bot: FakeBot
    a_payload: str
    b_account: int


@dataclass
class HeavyLoad:
    """What tenant B got done (answers by operation and status)."""

    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, status: int, seconds: float) -> None:
        self.answers[(name, status)] += 1
        self.seconds.setdefault(name, []).append(seconds)


# ---- rows -------------------------------------------------------------------------------


async def provision(bench: BenchDatabase, fake: FakeTelegram) -> Tenants:
    """Tenant A: a bot with a deployed two-element course and a public token. Tenant B: an
    account and its owner (B's course comes in over HTTP, as the heavy load itself)."""
    db = Database(bench.app_url, pool_size=2, max_overflow=0)
    try:
        a_id = await _account(db, "Tenant A", OWNER_A)
        b_id = await _account(db, "Tenant B", OWNER_B)
        fake_bot = fake.add_bot("tenant_a_bot")
        async with db.tenant(a_id) as s:
            bot = await bots.create(
                s,
                a_id,
                token=Secret(fake_bot.token),
                box=bench.box,
                telegram_id=fake_bot.id,
                username=fake_bot.username,
            )
            course = await courses.create(s, a_id, title="Welcome", slug="welcome")
            version = await courses.add_version(
                s,
                a_id,
                course.id,
                source_text=A_COURSE,
                source_format="yaml",
                elements=[
                    {"id": "intro", "type": "message", "text": WELCOME, "button": "Go"},
                    {"id": "bye", "type": "end", "text": "Bye"},
                ],
                checksum="0" * 64,
            )
            deployment = await deployments.create(
                s, a_id, course_version_id=version.id, bot_id=bot.id, environment="prod"
            )
            token = await tokens.create(s, a_id, deployment_id=deployment.id, kind="public")
            payload = build_start_payload(deployment.id, token.token)
    finally:
        await db.dispose()
    return Tenants(fake_bot, payload, b_id)


async def _account(db: Database, name: str, owner: int) -> int:
    async with db.system() as s:
        account = await system.create_account(
            s, slug=f"bench-{secrets.token_hex(4)}", name=name, plan="unlimited"
        )
        await members.add(s, account.id, telegram_user_id=owner, role="owner")
        return account.id


# ---- the process under test ---------------------------------------------------------------


class Runner:
    """`python -m runner up` on the scratch database, the fake Bot API and a free port."""

    def __init__(self, bench: BenchDatabase, redis_url: str, api_base: str, data_dir: str):
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEBOT_")}
        # The course workers' settings pass through, so their effect can be measured.
        self.env.update({k: v for k, v in os.environ.items() if k.startswith("COURSEBOT_COURSE")})
        self.env.update(
            DATABASE_URL=bench.owner_url,
            DATABASE_APP_URL=bench.app_url,
            REDIS_URL=redis_url,
            TELEGRAM_API_BASE=api_base,
            COURSEBOT_SECRET_KEY=bench.secret_key,
            COURSEBOT_DATA_DIR=data_dir,
            COURSEBOT_HOST="127.0.0.1",
            COURSEBOT_PORT=str(self.port),
            COURSEBOT_POLL_TIMEOUT="10",
            COURSEBOT_CHAT_RATE="100",
            COURSEBOT_LOG_LEVEL="WARNING",
            # B's owner logs in as the panel's tests do: a login signed by this login bot.
            COURSEBOT_LOGIN_BOT_TOKEN=LOGIN_BOT_TOKEN.reveal(),
        )
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 120.0) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runner",
            "up",
            cwd=REPO,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        output: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
            output.append(line)
            if not line:
                raise RuntimeError("the runner exited:\n" + b"".join(output[-30:]).decode())
            if b"coursebot is up" in line:
                self._drain = asyncio.create_task(self._echo_problems())
                return
        raise TimeoutError("the runner did not come up")

    async def _echo_problems(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            print(f"  runner: {line.decode(errors='replace').rstrip()}", file=sys.stderr)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._drain is not None:
            self._drain.cancel()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- tenant A: students -------------------------------------------------------------------


class Students:
    """New students, one `/start` each, every `interval` seconds (open loop: a stalled
    process does not slow the arrivals down, as real students are not)."""

    def __init__(self, fake: FakeTelegram, tenants: Tenants) -> None:
        self._fake = fake
        self._tenants = tenants
        self._next = FIRST_STUDENT

    async def start(self, count: int, interval: float, timeout_s: float) -> list[float]:
        waits = []
        for _ in range(count):
            waits.append(asyncio.create_task(self._one(timeout_s)))
            await asyncio.sleep(interval)
        return list(await asyncio.gather(*waits))

    async def _one(self, timeout_s: float) -> float:
        self._next += 1
        student = self._next
        bot = self._tenants.a_bot
        pushed = time.monotonic()
        self._fake.push_start(bot, student, self._tenants.a_payload)
        sent = await self._fake.wait_for_sent(student, bot=bot, timeout=timeout_s)
        return sent[0].time - pushed


# ---- tenant B: the heavy load -------------------------------------------------------------


class TenantB:
    """B's owner (a browser session), a creator's and a viewer's API keys, and B's course."""

    def __init__(self, base_url: str, account_id: int, elements: int) -> None:
        self._base = base_url
        self._account = account_id
        self._elements = elements
        self._api = f"/api/v1/accounts/{account_id}"
        self._clients: list[httpx.AsyncClient] = []
        self.course_id = 0
        self.version_id = 0
        self.uploads = 0

    def _client(self, **headers: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self._base, headers=headers, timeout=600)
        self._clients.append(client)
        return client

    async def prepare(self) -> None:
        self.owner = Browser(self._client(Accept="text/html", **{"Accept-Language": "en"}))
        await self.owner.log_in(OWNER_B)
        keys = {}
        for role in ("creator", "viewer"):
            made = await self.owner.client.post(
                f"{self._api}/api-keys",
                json={"name": f"bench {role}", "role": role},
                headers={"Accept": "application/json"},
            )
            made.raise_for_status()
            keys[role] = made.json()["key"]
        self.creator = self._client(Authorization=f"Bearer {keys['creator']}")
        self.viewer = self._client(Authorization=f"Bearer {keys['viewer']}")
        created = await self.creator.post(
            f"{self._api}/courses",
            json={"title": "Heavy", "source": heavy_course(self._elements)},
        )
        created.raise_for_status()
        self.course_id = created.json()["course"]["id"]
        self.version_id = created.json()["version"]["id"]

    def operations(self) -> list[tuple[str, Callable[[], Awaitable[httpx.Response]]]]:
        course = f"{self._api}/courses/{self.course_id}"
        version = f"{course}/versions/{self.version_id}"
        return [
            ("normalised export", lambda: self.viewer.get(f"{version}/export?normalised=true")),
            ("validate + upload", self._validate_and_upload),
            (
                "version page",
                lambda: self.owner.client.get(
                    f"/accounts/{self._account}/courses/{self.course_id}/versions/{self.version_id}"
                ),
            ),
        ]

    async def _validate_and_upload(self) -> httpx.Response:
        self.uploads += 1
        source = heavy_course(self._elements, tag=f"v{self.uploads}")
        checked = await self.creator.post(f"{self._api}/courses/validate", json={"source": source})
        if checked.status_code != 200:
            return checked
        return await self.creator.post(
            f"{self._api}/courses/{self.course_id}/versions", json={"source": source}
        )

    async def hammer(self, loops: int, load: HeavyLoad, stop: asyncio.Event) -> None:
        ops = self.operations()

        async def loop(offset: int) -> None:
            turn = offset
            while not stop.is_set():
                name, call = ops[turn % len(ops)]
                started = time.monotonic()
                response = await call()
                load.record(name, response.status_code, time.monotonic() - started)
                turn += 1

        await asyncio.gather(*(loop(n) for n in range(loops)))

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


# ---- the run ------------------------------------------------------------------------------


@dataclass
class Result:
    idle: list[float]
    loaded: list[float]
    load: HeavyLoad
    elements: int


async def run(args: argparse.Namespace) -> Result:
    with servers(args.database_url, args.redis_url) as urls:
        async with scratch_database(urls.database_url) as bench, FakeTelegram() as fake:
            tenants = await provision(bench, fake)
            with tempfile.TemporaryDirectory(prefix="coursebot-noisy-") as data_dir:
                runner = Runner(bench, urls.redis_url, fake.base_url, data_dir)
                await runner.start()
                b = TenantB(runner.base_url, tenants.b_account, args.elements)
                try:
                    return await _measure(args, fake, tenants, b)
                finally:
                    await b.close()
                    await runner.stop()


async def _measure(
    args: argparse.Namespace, fake: FakeTelegram, tenants: Tenants, b: TenantB
) -> Result:
    students = Students(fake, tenants)
    print(f"setting up tenant B's {args.elements:,}-element course ...", file=sys.stderr)
    await b.prepare()
    await students.start(5, 0.2, args.timeout)  # warm-up: A's course parsed, pools open
    idle = await students.start(args.students, args.interval, args.timeout)
    print(f"idle: {len(idle)} starts measured; now under load ...", file=sys.stderr)
    load = HeavyLoad()
    stop = asyncio.Event()
    hammer = asyncio.create_task(b.hammer(args.parallel, load, stop))
    await asyncio.sleep(args.warmup)  # every loop has a heavy request in flight
    try:
        loaded = await students.start(args.students, args.interval, args.timeout)
    finally:
        stop.set()
        await hammer
    return Result(idle, loaded, load, args.elements)


COLUMNS = (
    Column("tenant A /start -> first reply", 34),
    Column("starts", 8, ","),
    Column("p50 ms", 9, ",.0f"),
    Column("p99 ms", 9, ",.0f"),
    Column("max ms", 9, ",.0f"),
    Column("p99 vs idle", 13),
)


def render(result: Result, parallel: int) -> str:
    idle_p99 = percentile(result.idle, 99)
    rows = [
        (name, len(samples), *_ms(samples), ratio(percentile(samples, 99), idle_p99))
        for name, samples in (
            ("idle", result.idle),
            (f"B: {parallel} parallel heavy loops", result.loaded),
        )
    ]
    return render_table(COLUMNS, rows)


def _ms(samples: list[float]) -> tuple[float, float, float]:
    return (
        percentile(samples, 50) * 1000,
        percentile(samples, 99) * 1000,
        max(samples, default=float("nan")) * 1000,
    )


def load_summary(load: HeavyLoad) -> str:
    parts = []
    for name, seconds in load.seconds.items():
        statuses = ", ".join(
            f"{count} x {status}"
            for (op, status), count in sorted(load.answers.items())
            if op == name
        )
        parts.append(f"{name}: {statuses} (p50 {percentile(seconds, 50):.1f} s)")
    return "tenant B: " + "; ".join(parts)


def verdict(result: Result) -> str:
    worst = max(result.loaded, default=float("nan"))
    p99_ratio = percentile(result.loaded, 99) / percentile(result.idle, 99)
    met = worst <= GOAL_MAX_S and p99_ratio <= GOAL_P99_RATIO
    return (
        f"goal: max under load <= {GOAL_MAX_S} s and p99 <= {GOAL_P99_RATIO:g}x idle: "
        f"{'met' if met else 'NOT met'} (max {worst:.2f} s, p99 {p99_ratio:.2f}x idle)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="20 students, 3,000 elements")
    parser.add_argument("--students", type=int, help="starts measured per phase (100)")
    parser.add_argument("--elements", type=int, help="elements of B's course (30,000)")
    parser.add_argument("--parallel", type=int, default=4, help="B's parallel loops")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between starts")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a start may take")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    args.students = args.students or (20 if args.small else 100)
    args.elements = args.elements or (3_000 if args.small else 30_000)
    if args.students < 1 or args.elements < 1 or args.parallel < 1:
        parser.error("--students, --elements and --parallel must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print(
        f"tenant B's course: {result.elements:,} elements, {args.parallel} parallel loops; "
        f"{machine_line()}"
    )
    print(render(result, args.parallel))
    print(load_summary(result.load))
    print(verdict(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
