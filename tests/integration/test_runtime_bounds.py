"""Bounded steps through the real runtime (PostgreSQL, Redis, aiogram over HTTP against the
fake Bot API and a fake OpenAI): a long course without buttons goes out a bounded batch per
transaction and still arrives whole and in order; a course that loops without the student
is halted, by the timer path and by the LLM-reply path, and the teacher sees why in the API,
on the run page and in the analytics."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from adapters.llm import AccountLLM, Endpoint
from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from courses.loader import load_course
from engine.limits import HALTED_NO_STUDENT_INPUT, MAX_ELEMENTS_PER_STEP
from storage.models import Outbox, Run
from storage.outbound import AllowList, OutboundClient
from tests.course_workers import shared_course_workers
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.runtime_support import (
    Autopilot,
    Course,
    ShiftableClock,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    latest_run,
    run_position,
    run_state,
    until_hosted,
)
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    fake: FakeTelegram
    llm: FakeOpenAI
    runtime: TelegramRuntime
    clock: ShiftableClock


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def stack(db, secret_box, service_urls, fake) -> AsyncIterator[Stack]:
    clock = ShiftableClock()
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeOpenAI() as llm_server:
        # As production would be configured for an LLM inside the operator's network.
        outbound = OutboundClient.allowing(AllowList.parse(urlsplit(llm_server.base_url).netloc))
        llm = AccountLLM(
            db,
            secret_box,
            Endpoint(llm_server.base_url, "sk-platform", "fake-model", timeout_s=3.0),
            clock=clock,
            outbound=outbound,
        )
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(
                api_base=fake.base_url,
                poll_timeout_s=1,
                rate_limits=RateLimits(chat_per_second=500.0, bot_per_second=500.0),
                sweep_interval_s=0.5,
            ),
            workers=shared_course_workers(),
            llm=llm,
            clock=clock,
            reconcile_interval_s=0.3,
        )
        await runtime.start()
        try:
            yield Stack(fake, llm_server, runtime, clock)
        finally:
            await runtime.stop()
            await outbound.aclose()
            await redis.aclose()


@pytest.fixture
def few_unattended_steps(monkeypatch) -> int:
    """Halting after 1,000 one-second timers would take the test 1,000 scheduler rounds; the
    engine's unit tests cover the real bound, this one the runtime around it."""
    bound = 3
    monkeypatch.setattr(importlib.import_module("engine.step"), "MAX_UNATTENDED_STEPS", bound)
    return bound


_users = iter(range(9_100_000, 9_200_000))


async def provision(stack: Stack, db, secret_box, account_id: int, source: str) -> Course:
    fake_bot = stack.fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, f"c{bot_id}")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    await until_hosted(stack.runtime, bot_id, timeout=5)
    elements = load_course(source).course.elements
    return Course(account_id, bot_id, fake_bot, deployment_id, token, elements)


async def started(stack: Stack, db, course: Course) -> int:
    user = next(_users)
    await Autopilot(stack.fake, db, course, user, clock=stack.clock).start()
    return user


async def finished_run(db, course: Course, user: int, *, tick: ShiftableClock | None = None):
    """Wait until the student's run ends; with `tick`, move the clock 2 s every round so
    one-second delays keep falling due."""
    deadline = time.monotonic() + 30
    while True:
        run = await latest_run(db, course.account_id, user)
        if run is not None and not run.is_active:
            return run
        assert time.monotonic() < deadline, f"the run did not end: {run and run.state}"
        if tick is not None:
            tick.advance(timedelta(seconds=2))
        await asyncio.sleep(0.3)


def texts_to(stack: Stack, user: int) -> list[str]:
    return [sent.text or "" for sent in stack.fake.sent_to(user)]


async def test_a_long_course_without_buttons_is_sent_a_bounded_batch_per_step(
    stack, db, secret_box, make_account
):
    count = 2 * MAX_ELEMENTS_PER_STEP + 37
    source = "".join(f"m{i}:\n  type: message\n  text: Message {i}\n" for i in range(count))
    course = await provision(stack, db, secret_box, await make_account(), source)
    user = await started(stack, db, course)

    run = await finished_run(db, course, user)
    assert run.status == "completed"
    await stack.fake.wait_for(lambda: len(stack.fake.sent_to(user)) >= count, 20.0)
    assert texts_to(stack, user) == [f"Message {i}" for i in range(count)]

    # Rows of one transaction share created_at (now() is the transaction's start).
    async with db.tenant(course.account_id) as session:
        per_step = list(
            await session.scalars(
                select(func.count())
                .select_from(Outbox)
                .where(Outbox.account_id == course.account_id, Outbox.run_id == run.id)
                .group_by(Outbox.created_at)
                .order_by(Outbox.created_at)
            )
        )
    assert per_step == [MAX_ELEMENTS_PER_STEP, MAX_ELEMENTS_PER_STEP, 37]


LOOP = """\
Tick:
  type: delay
  text: tick
  wait: 1s
  goto: Tick
"""


async def test_a_delay_that_jumps_to_itself_is_halted_and_the_teacher_sees_why(
    stack, db, secret_box, make_account, few_unattended_steps
):
    owner = next(_users)
    account_id = await make_account(owner_telegram_user_id=owner)
    course = await provision(stack, db, secret_box, account_id, LOOP)
    user = await started(stack, db, course)

    run = await finished_run(db, course, user, tick=stack.clock)
    assert (run.status, run.note) == ("halted", HALTED_NO_STUDENT_INPUT)
    assert texts_to(stack, user) == ["tick"] * (few_unattended_steps + 1)
    async with db.tenant(account_id) as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.account_id == account_id, Run.id == run.id, Run.is_active)
        )
    assert pending == 0

    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{account_id}"
    async with panel_client(ctx) as client:
        shown = (await client.get(f"{base}/runs/{run.id}", headers=headers)).json()
        assert (shown["status"], shown["note"], shown["current_element"]) == (
            "halted",
            "no_student_input",
            "Tick",
        )
        listed = await client.get(f"{base}/runs", params={"status": "halted"}, headers=headers)
        assert [r["id"] for r in listed.json()["items"]] == [run.id]

        page = await client.get(f"/accounts/{account_id}/runs/{run.id}", headers=headers)
        assert page.status_code == 200
        assert "stopped by the bot" in page.text
        assert "The bot stopped this run at element “Tick”" in page.text
        assert "without any answer from the student" in page.text
        filtered = await client.get(
            f"/accounts/{account_id}/runs", params={"status": "halted"}, headers=headers
        )
        assert filtered.status_code == 200 and f"/runs/{run.id}" in filtered.text

        funnel = await client.get(
            f"{base}/deployments/{course.deployment_id}/analytics/funnel", headers=headers
        )
        (tick,) = funnel.json()["steps"]
        assert (tick["dropped"], tick["in_progress"]) == (1, 0)


CHAT_LOOP = """\
Chat:
  type: dialog
  text: Hello again
  prompt: You are a tutor.
  auto_start: yes
Pause:
  type: delay
  wait: 1s
  goto: Chat
"""


async def test_a_dialog_whose_model_ends_it_at_once_behind_a_loop_is_halted_on_a_reply(
    stack, db, secret_box, make_account, monkeypatch
):
    """Replies come back through the journal's batches: the halt is written there too. With a
    bound of 2: reply (1), timer (2), the next reply halts the run."""
    monkeypatch.setattr(importlib.import_module("engine.step"), "MAX_UNATTENDED_STEPS", 2)
    stack.llm.reply = lambda messages: "Let's stop here. {STOP}"
    course = await provision(stack, db, secret_box, await make_account(), CHAT_LOOP)
    user = await started(stack, db, course)

    run = await finished_run(db, course, user, tick=stack.clock)
    assert (run.status, run.note) == ("halted", HALTED_NO_STUDENT_INPUT)
    assert run_position(run) == "Chat" and run_state(run).unattended == 2
    assert len(stack.llm.completions()) == 2
