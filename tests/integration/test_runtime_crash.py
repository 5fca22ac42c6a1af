"""The runner as in production (`python -m runner up` in its own process), killed with
SIGKILL mid-course and started again: students continue exactly where they were."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Conversation
from tests.course_files import fixture_text
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import TEST_SECRET_KEY
from tests.integration.runtime_support import (
    Autopilot,
    Course,
    active_run,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    quiet,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

DELAY_COURSE = """\
Intro:
  type: message
  text: Ready for a short pause?
  button: Go
Pause:
  type: delay
  text: See you in two seconds.
  wait: 2s
  goto: After_Pause
After_Pause:
  type: message
  text: Welcome back after the pause.
  button: Finish
Bye:
  type: end
  text: Done.
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Runner:
    """`python -m runner up` against the test database, Redis and the fake Bot API."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runner",
            "up",
            cwd=REPO,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        output: list[bytes] = []
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.process.stdout.readline(), 60)
            output.append(line)
            if not line:
                tail = b"".join(output[-30:]).decode(errors="replace")
                raise RuntimeError(f"runner exited during start-up:\n{tail}")
            if b"coursebot is up" in line:
                asyncio.get_running_loop().create_task(self._drain())
                return
        raise TimeoutError("runner did not come up")

    async def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while await self.process.stdout.readline():
            pass

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def runner_env(test_database, service_urls, fake, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEBOT_")}
    env.update(
        DATABASE_URL=test_database.owner_url,
        REDIS_URL=service_urls.redis_url,
        TELEGRAM_API_BASE=fake.base_url,
        COURSEBOT_SECRET_KEY=TEST_SECRET_KEY,
        COURSEBOT_DATA_DIR=str(tmp_path),
        COURSEBOT_PORT=str(free_port()),
        COURSEBOT_POLL_TIMEOUT="1",
        COURSEBOT_CHAT_RATE="100",
        COURSEBOT_LOG_LEVEL="WARNING",
    )
    return env


async def provision(fake, db, secret_box, account_id: int, source: str, name: str) -> Course:
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, name)
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    return Course(account_id, bot_id, fake_bot, deployment_id, token)


def bot_messages(fake: FakeTelegram, chat_id: int) -> list[tuple[str | None, str]]:
    return [(s.text, s.method) for s in fake.sent_to(chat_id)]


async def test_kill_9_mid_course_then_restart_continues_without_loss_or_repeat(
    fake, db, secret_box, make_account, runner_env
):
    account_id = await make_account()
    source = fixture_text("chat_basics.yaml")
    course = await provision(fake, db, secret_box, account_id, source, "crash")
    user = 7_100_001
    pilot = Autopilot(fake, db, course, user)

    runner = Runner(runner_env)
    await runner.start()
    try:
        await pilot.start()
        for _ in range(4):
            await pilot.step()
        await quiet(fake, user)
        before = await active_run(db, account_id, course.bot_id, user)
        sent_before = bot_messages(fake, user)

        await runner.kill()
        # The student acts while the runner is down: Telegram keeps the update for us.
        assert await pilot._act(before)
        await asyncio.sleep(0.5)
        assert bot_messages(fake, user) == sent_before

        await runner.start()
        finished = await pilot.play()
    finally:
        await runner.stop()

    assert finished.status == "completed"
    async with db.tenant(account_id) as session:
        lines = list(
            await session.scalars(
                select(Conversation)
                .where(Conversation.account_id == account_id, Conversation.run_id == finished.id)
                .order_by(Conversation.id)
            )
        )
    bot_lines = [(line.element_id, line.text) for line in lines if line.role == "bot"]
    assert len(bot_lines) == len(set(bot_lines)), "no step recorded twice"
    texts = [t for t, _ in bot_messages(fake, user) if t]
    repeats = [t for i, t in enumerate(texts) if i and texts[i - 1] == t]
    assert not repeats, f"messages sent twice: {repeats}"
    earlier = [t for t, _ in sent_before if t]
    assert texts[: len(earlier)] == earlier


async def test_delay_due_while_runner_is_down_fires_once_on_restart(
    fake, db, secret_box, make_account, runner_env
):
    account_id = await make_account()
    course = await provision(fake, db, secret_box, account_id, DELAY_COURSE, "pause")
    user = 7_100_002
    pilot = Autopilot(fake, db, course, user)
    runner = Runner(runner_env)
    await runner.start()
    try:
        await pilot.start()
        await pilot.step()  # press "Go": the 2 s delay is scheduled
        await fake.wait_for(
            lambda: any("two seconds" in (s.text or "") for s in fake.sent_to(user)), 10
        )
        await runner.kill()
        await asyncio.sleep(3)  # the delay falls due while nobody is running
        assert not any("Welcome back" in (s.text or "") for s in fake.sent_to(user))

        await runner.start()
        await fake.wait_for(
            lambda: any("Welcome back" in (s.text or "") for s in fake.sent_to(user)), 15
        )
        await asyncio.sleep(1.5)
        welcome = [s for s in fake.sent_to(user) if "Welcome back" in (s.text or "")]
        assert len(welcome) == 1
        finished = await pilot.play()
    finally:
        await runner.stop()
    assert finished.status == "completed"
