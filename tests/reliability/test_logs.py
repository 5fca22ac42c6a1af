"""Structured logs: one JSON object per line with the ids of whatever was being worked on,
a readable text format by default, and never a bot token, whatever failed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from observability.logs import (
    LOG_FORMAT_ENV,
    bind_log_ids,
    configure_logging,
    log_context,
)
from tests.reliability.support import (
    FINAL_TEXT,
    Cohort,
    Student,
    create_account,
    deactivate,
    hosted_runtime,
    make_rng,
    provision_course,
)

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("tests.reliability.logs")


class CapturedLogs:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def json_logs() -> Iterator[CapturedLogs]:
    """The process's logging switched to JSON into a buffer, put back afterwards."""
    captured = CapturedLogs()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", "json", stream=captured.stream)
    quiet = logging.getLogger("sqlalchemy.engine")  # SQL at INFO would drown the rest
    quiet_level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        quiet.setLevel(quiet_level)


async def test_each_line_is_json_with_the_ids_of_its_own_task(json_logs):
    async def chat_worker(account_id: int, bot_id: int, chat_id: int) -> None:
        bind_log_ids(account_id=account_id, bot_id=bot_id, chat_id=chat_id)
        for step in range(3):
            await asyncio.sleep(0)  # interleave with the other worker
            with log_context(run_id=chat_id * 10 + step):
                log.info("step %s\nsecond line", step)
        log.warning("done")

    await asyncio.gather(chat_worker(1, 11, 111), chat_worker(2, 22, 222))
    log.info("outside any worker")

    records = json_logs.records()
    assert len(records) == 9
    for record in records[:-1]:
        expected = {"account_id": 1, "bot_id": 11, "chat_id": 111}
        if record["chat_id"] == 222:
            expected = {"account_id": 2, "bot_id": 22, "chat_id": 222}
        assert {k: record[k] for k in expected} == expected
        if record["msg"] != "done":
            assert record["run_id"] // 10 == record["chat_id"]
            assert record["msg"].startswith("step ") and "\n" in record["msg"]
        else:
            assert "run_id" not in record  # log_context put the previous (none) back
        assert record["logger"] == "tests.reliability.logs"
        assert record["level"] in ("INFO", "WARNING") and record["ts"].endswith("+00:00")
    assert records[-1]["msg"] == "outside any worker"
    assert not {"account_id", "bot_id", "chat_id", "run_id"} & records[-1].keys()


def test_text_is_the_default_and_shows_the_ids(monkeypatch):
    monkeypatch.delenv(LOG_FORMAT_ENV, raising=False)
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", stream=stream)
    try:
        with log_context(account_id=3, bot_id=4):
            log.info("hello")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip()
    assert line.endswith("INFO tests.reliability.logs [account_id=3 bot_id=4]: hello"), line
    with pytest.raises(ValueError, match=LOG_FORMAT_ENV):
        configure_logging("INFO", "xml")
    with pytest.raises(ValueError, match="COURSEBOT_LOG_LEVEL"):
        configure_logging("LOUD", "json")


def test_runner_refuses_an_unknown_log_format_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEBOT_")}
    env.update(COURSEBOT_LOG_FORMAT="xml", COURSEBOT_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "runner", "up"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "COURSEBOT_LOG_FORMAT must be one of text, json, got 'xml'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
async def test_failing_bot_calls_are_logged_without_the_token(
    fake, db, secret_box, service_urls, json_logs
):
    """Telegram (or a proxy in front of it) refuses a lesson with an error that quotes the
    request path, token included: the runtime logs the refusal with the student's ids, falls
    back to plain text, and the token never reaches the log."""
    rng = make_rng("logs-token")
    course = await provision_course(fake, db, secret_box, await create_account(db))
    token = course.fake_bot.token
    quoted = f"Bad Request: can't parse entities in POST /bot{token}/sendMessage"
    fake.fail_next("sendMessage", 400, description=quoted)
    student = Student(fake, course, 7_700_001, rng)
    redis = Redis.from_url(service_urls.redis_url)
    try:
        async with hosted_runtime(db, secret_box, redis, fake, [course]):
            cohort = Cohort(fake, [course], [student], rng, timeout_s=60)
            cohort.start()
            await cohort.finish()
    finally:
        await redis.aclose()
        await deactivate(db, [course])

    assert any(FINAL_TEXT in (s.text or "") for s in student.seen())
    assert token.split(":", 1)[1] not in json_logs.text
    records = json_logs.records()
    refused = [r for r in records if "can't parse entities" in r["msg"]]
    loggers = sorted(r["logger"] for r in refused)
    assert loggers == ["adapters.telegram.delivery", "adapters.telegram.sender"], refused
    for record in refused:  # the send attempt that failed, then the fallback decision
        assert record["level"] == "WARNING"
        assert record["bot_id"] == course.bot_id and record["chat_id"] == student.user_id
    delivery = next(r for r in refused if r["logger"] == "adapters.telegram.delivery")
    assert f"/bot{course.fake_bot.id}:<redacted>/sendMessage" in delivery["msg"]
    assert delivery["account_id"] == course.account_id
    assert delivery["run_id"] > 0
