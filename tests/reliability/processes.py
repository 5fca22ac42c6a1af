"""Real `coursebot` processes for the reliability suite: `python -m runner <command>` in its
own process, pointed at the test stores and the fake Bot API by its environment."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

from tests.integration.conftest import TEST_SECRET_KEY

REPO = Path(__file__).resolve().parents[2]
LEASE_TTL_S = 3
START_TIMEOUT_S = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(database_url: str, redis_url: str, api_base: str, data_dir: Path) -> dict[str, str]:
    """What every test process reads: the test stores, the fake, quick polls, JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEBOT_")}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TELEGRAM_API_BASE=api_base,
        COURSEBOT_SECRET_KEY=TEST_SECRET_KEY,
        COURSEBOT_DATA_DIR=str(data_dir),
        COURSEBOT_PORT=str(free_port()),
        COURSEBOT_POLL_TIMEOUT="1",
        COURSEBOT_CHAT_RATE="100",
        COURSEBOT_LOG_LEVEL="INFO",
        COURSEBOT_LOG_FORMAT="json",
        COURSEBOT_COURSE_WORKERS="1",
        # Short leases: a restarted process waits out its killed predecessor's leases.
        COURSEBOT_LEASE_TTL=str(LEASE_TTL_S),
        COURSEBOT_LEASE_RENEW="1",
    )
    return env


class RunnerProcess:
    """`python -m runner <command>` (up, runner, panel); keeps everything it prints, across
    restarts."""

    def __init__(self, env: dict[str, str], command: str = "up") -> None:
        self._env = env
        self.command = command
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self.start_times: list[float] = []
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        started = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runner",
            self.command,
            cwd=REPO,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        # Generous: three processes starting at once on a loaded 2-core machine took ~60 s.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT_S)
            if not line:
                tail = "\n".join(self.output[-30:])
                raise RuntimeError(f"{self.command} exited during start-up:\n{tail}")
            self.output.append(line.decode(errors="replace"))
            if b" is up in " in line:
                self._drain = asyncio.create_task(self._keep_reading(self.process))
                self.start_times.append(time.monotonic() - started)
                return
        raise TimeoutError(f"{self.command} did not come up")

    async def _keep_reading(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self.output.append(line.decode(errors="replace"))

    async def kill(self) -> None:
        await self._signal(signal.SIGKILL, None)

    async def terminate(self, timeout: float = 15) -> int | None:
        """SIGTERM, as an orchestrator stops a process; its exit code."""
        return await self._signal(signal.SIGTERM, timeout)

    async def stop(self) -> None:
        if self.running:
            await self._signal(signal.SIGINT, 15)

    async def _signal(self, signum: int, timeout: float | None) -> int | None:
        assert self.process is not None
        self.process.send_signal(signum)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        if self._drain is not None:
            await self._drain
        return self.process.returncode
