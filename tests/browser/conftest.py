"""The browser tests' world: the real panel app served by uvicorn on a loopback port, the
real Telegram runtime, the fake Bot API both talk to, and Debian's Chromium driven by
Playwright. Screenshots of every step go to test-artifacts/browser/.

Chromium is a system package (apt-get install chromium; .ci/run installs it): Playwright's
own browser download is never used, and a missing /usr/bin/chromium fails the tests with a
message saying so rather than skipping them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from redis.asyncio import Redis

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from panel_api.app import create_app
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.integration import conftest as integration
from tests.integration.runtime_support import ShiftableClock
from tests.integration.test_panel_support import panel_context

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

# The integration tests' database fixtures (a migrated database of this session, the app's
# `Database` on it, accounts): the browser tests meet the panel on the same kind of data.
test_database = integration.test_database
db = integration.db
secret_box = integration.secret_box
make_account = integration.make_account


@dataclass
class Panel:
    base_url: str
    fake: FakeTelegram
    runtime: TelegramRuntime
    clock: ShiftableClock


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def panel(db, secret_box, service_urls) -> AsyncIterator[Panel]:
    """The panel at http://127.0.0.1:<port>, and the runtime hosting the bots it adds."""
    async with FakeTelegram() as fake:
        redis = Redis.from_url(service_urls.redis_url)
        clock = ShiftableClock()
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(
                api_base=fake.base_url,
                poll_timeout_s=1,
                rate_limits=RateLimits(chat_per_second=200.0, bot_per_second=500.0),
                sweep_interval_s=0.5,
            ),
            workers=shared_course_workers(),
            clock=clock,
            reconcile_interval_s=0.3,
        )
        app = create_app(panel_context(db, secret_box, telegram_api_base=fake.base_url))
        sock = _free_socket()
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await runtime.start()
        try:
            while not server.started:
                if serving.done():
                    serving.result()  # raises what stopped the server
                await asyncio.sleep(0.02)
            port = sock.getsockname()[1]
            yield Panel(f"http://127.0.0.1:{port}", fake, runtime, clock)
        finally:
            await runtime.stop()
            server.should_exit = True
            await serving
            sock.close()
            await redis.aclose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. "
            "Install it with `apt-get update && apt-get install -y chromium` (.ci/run does)."
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, panel: Panel) -> AsyncIterator[Page]:
    context: BrowserContext = await browser.new_context(
        locale="en-US", viewport={"width": 1280, "height": 900}
    )
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=panel.base_url)
    tab = await context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        await context.close()


class Screenshots:
    """Numbered full-page screenshots: test-artifacts/browser/<test>/<NN>-<step>.png."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    async def take(self, page: Page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(ARTIFACTS / request.node.name)
