"""The README's first command on a machine with no PostgreSQL or Redis configured:
`coursebot up` starts embedded servers under the data folder, serves the panel and
`/health`, stops cleanly on Ctrl-C, and a second `up` finds the same data again.

The machine running the tests has its own servers on 5432/6379; the embedded ones must not
collide with them (they listen on unix sockets only)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from panel_api.auth.telegram_login import widget_hash
from runner import PORT_BUSY
from storage.crypto import Secret

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LOGIN_BOT_TOKEN = Secret("123456:embedded-up-login-bot-of-coursebot-up")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def up_environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DATABASE_APP_URL", "COURSEBOT_SECRET_KEY")
    }
    env.update(
        COURSEBOT_DATA_DIR=str(data_dir),
        COURSEBOT_PORT=str(port),
        COURSEBOT_LOGIN_BOT_TOKEN=LOGIN_BOT_TOKEN.reveal(),
        TELEGRAM_API_BASE="http://127.0.0.1:9",  # no bot is added; nothing may reach Telegram
    )
    return env


async def start_up(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str, float]:
    """`python -m runner up`; returns the process, its output so far and seconds to ready."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runner",
        "up",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode(errors="replace")
        output.append(line)
        if not line:
            raise AssertionError("`up` exited during start-up:\n" + "".join(output[-30:]))
        if "coursebot is up" in line:
            return process, "".join(output), time.monotonic() - started


async def interrupt(process: asyncio.subprocess.Process) -> str:
    """Ctrl-C, as a person stops `up`; returns what it printed while stopping."""
    process.send_signal(signal.SIGINT)
    assert process.stdout is not None
    rest = await asyncio.wait_for(process.stdout.read(), 30)
    await asyncio.wait_for(process.wait(), 30)
    return rest.decode(errors="replace")


async def log_in(client: httpx.AsyncClient, user_id: int) -> None:
    fields = {"id": user_id, "first_name": "Ada", "auth_date": int(time.time())}
    answer = await client.post(
        "/api/v1/auth/telegram", json={**fields, "hash": widget_hash(fields, LOGIN_BOT_TOKEN)}
    )
    assert answer.status_code == 200, answer.text


async def test_up_on_the_embedded_default_serves_stops_and_keeps_its_data(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    env = up_environment(data_dir, port)
    base = f"http://127.0.0.1:{port}"

    process, output, first_ready_s = await start_up(env)
    try:
        assert f"under {data_dir}" in output  # it says it started embedded servers, and where
        assert f"health {base}/health" in output
        assert f"panel {base}/ " in output  # people open the panel's front page, not /docs
        async with httpx.AsyncClient(base_url=base) as client:
            health = await client.get("/health")
            assert health.status_code == 200
            report = health.json()
            assert report["checks"] == {"database": "ok", "redis": "ok", "leases": "ok"}
            assert report["role"] == "up" and report["oldest_unhandled_update_s"] is None
            await log_in(client, 71_000_001)
            created = await client.post("/api/v1/accounts", json={"name": "Kept school"})
            assert created.status_code == 201, created.text
    finally:
        stopping = await interrupt(process)
    assert process.returncode == 0, stopping
    assert "coursebot stopped." in stopping
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "PostgreSQL left running"

    process, output, second_ready_s = await start_up(env)
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/health")).status_code == 200
            await log_in(client, 71_000_001)
            accounts = (await client.get("/api/v1/accounts")).json()
            assert [a["name"] for a in accounts] == ["Kept school"]
    finally:
        await interrupt(process)
    assert process.returncode == 0
    print(f"`up` ready in {first_ready_s:.1f}s (fresh data folder), {second_ready_s:.1f}s (reused)")


@pytest.mark.parametrize("command", ["up", "panel", "runner"])
async def test_a_busy_port_is_one_clear_line_and_an_exit_code_with_nothing_started(
    tmp_path, command
):
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**up_environment(data_dir, port), "COURSEBOT_RUNNER_PORT": str(port)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runner",
            command,
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert process.returncode == PORT_BUSY
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], lines
    assert "Traceback" not in out.decode() + err.decode()
    assert not data_dir.exists(), "the embedded servers were started before the port was bound"
