"""The runner as in production (`python -m runner up`, its own process) is killed with
SIGKILL at random points while students take a course, and started again each time: every
run finishes, its conversation has every step once and in order, and what each student
read in Telegram has no gap (a message in flight at the kill may arrive twice in a row:
the outbox is at-least-once by design, with a window of one call per chat)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.reliability.processes import RunnerProcess, process_env
from tests.reliability.support import (
    audit,
    collapse_repeats,
    create_account,
    deactivate,
    enroll,
    make_rng,
)

pytestmark = pytest.mark.integration

KILLS = 3


@pytest.fixture
def runner_env(test_database, service_urls, fake, tmp_path) -> dict[str, str]:
    return process_env(test_database.owner_url, service_urls.redis_url, fake.base_url, tmp_path)


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
