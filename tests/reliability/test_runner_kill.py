"""The runner as in production (`python -m runner up`, its own process) is killed with
SIGKILL at random points while students take a course, and started again each time: every
run finishes, its conversation has every step once and in order, and what each student
read in Telegram has no gap (a message in flight at the kill may arrive twice in a row:
the outbox is at-least-once by design, with a window of one call per chat)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import TEST_SECRET_KEY
from tests.reliability.support import (
    audit,
    collapse_repeats,
    create_account,
    deactivate,
    enroll,
    make_rng,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunnerProcess:
    """`python -m runner up`; keeps everything it prints, across restarts."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self.start_times: list[float] = []
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = time.monotonic()
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
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.process.stdout.readline(), 60)
            if not line:
                tail = "\n".join(self.output[-30:])
                raise RuntimeError(f"runner exited during start-up:\n{tail}")
            self.output.append(line.decode(errors="replace"))
            if b"coursebot is up" in line:
                self._drain = asyncio.create_task(self._keep_reading(self.process))
                self.start_times.append(time.monotonic() - started)
                return
        raise TimeoutError("runner did not come up")

    async def _keep_reading(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self.output.append(line.decode(errors="replace"))

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self._drain is not None:
            await self._drain

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            await self.kill()
        if self._drain is not None:
            await self._drain


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
        COURSEBOT_LOG_LEVEL="INFO",
        COURSEBOT_LOG_FORMAT="json",
    )
    return env


async def test_kill_9_at_random_points_then_restart_loses_and_repeats_nothing(
    fake, db, secret_box, runner_env, students
):
    rng = make_rng("runner-kill")
    accounts = [await create_account(db), await create_account(db)]
    cohort = await enroll(fake, db, secret_box, accounts, rng, students=students)
    runner = RunnerProcess(runner_env)
    mid_course_at_kill: list[int] = []
    try:
        await runner.start()
        cohort.start()
        for point in sorted(rng.uniform(0.1, 0.85) for _ in range(KILLS)):
            await cohort.reach(point, timeout=90)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            mid_course_at_kill.append(cohort.unfinished())
            await runner.kill()
            # Someone opens the deep link while nothing runs; Telegram keeps the update.
            cohort.add_student(rng.choice(cohort.courses))
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            await runner.start()
        await cohort.finish()
        problems = await audit(db, cohort, resends_allowed=True)
    finally:
        await cohort.close()
        await runner.stop()
        await deactivate(db, cohort.courses)

    resent = sum(
        len(s.seen()) - len(collapse_repeats([m.text for m in s.seen()])) for s in cohort.students
    )
    print(
        f"students unfinished at each kill: {mid_course_at_kill}; messages re-sent after a "
        f"kill: {resent}; runner start-up: {[round(t, 1) for t in runner.start_times]} s"
    )
    assert len(mid_course_at_kill) == KILLS and all(mid_course_at_kill), mid_course_at_kill
    assert not problems, "\n".join(problems)
    check_runner_logs(runner.output, [c.fake_bot.token for c in cohort.courses])


def check_runner_logs(output: list[str], tokens: list[str]) -> None:
    """With COURSEBOT_LOG_FORMAT=json every log line is one JSON object, and no bot token
    shows up anywhere in what the runner printed, through all its crashes."""
    text = "".join(output)
    for token in tokens:
        assert token.split(":", 1)[1] not in text, "a bot token reached the runner's output"
    records = [json.loads(line) for line in output if line.startswith("{")]
    assert records, "the runner logged nothing as JSON"
    for record in records:
        assert {"ts", "level", "logger", "msg"} <= record.keys(), record
    assert any(r["logger"] == "adapters.telegram.bot_runtime" for r in records)
