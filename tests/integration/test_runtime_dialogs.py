"""`dialog` elements through the runtime against a fake OpenAI-compatible API: the legacy
courses with dialogs end to end, outages, voice, per-account endpoints and budgets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from adapters.llm import AccountLLM, Endpoint
from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from courses.loader import load_course
from storage.crypto import Secret
from storage.repositories import llm as llm_repo
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.runtime_support import (
    LEGACY_DIR,
    Autopilot,
    Course,
    ShiftableClock,
    active_run,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    quiet,
)

pytestmark = pytest.mark.integration

DIALOG_COURSE = """\
Chat:
  type: dialog
  text: Let's chat.
  prompt: You are a tutor.
After:
  type: end
  text: Thanks, bye.
"""


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
        llm = AccountLLM(
            db,
            secret_box,
            Endpoint(llm_server.base_url, "sk-platform", "fake-model", timeout_s=3.0),
            clock=clock,
        )
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
            llm=llm,
            clock=clock,
            reconcile_interval_s=0.3,
        )
        await runtime.start()
        try:
            yield Stack(fake, llm_server, runtime, clock)
        finally:
            await runtime.stop()
            await llm.close()
            await redis.aclose()


_users = iter(range(8_000_000, 9_000_000))


async def provision(stack: Stack, db, secret_box, account_id: int, source: str) -> Course:
    fake_bot = stack.fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, f"c{bot_id}")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    deadline = time.monotonic() + 5
    while stack.runtime.pool.get(bot_id) is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    return Course(
        account_id, bot_id, fake_bot, deployment_id, token, load_course(source).course.elements
    )


@pytest.mark.parametrize("course_file", ["test.yml", "test_all_elements.yml"])
async def test_legacy_courses_with_dialogs_finish_end_to_end(
    stack, db, secret_box, make_account, course_file
):
    account_id = await make_account()
    source = (LEGACY_DIR / course_file).read_text(encoding="utf-8")
    course = await provision(stack, db, secret_box, account_id, source)
    user = next(_users)
    # test.yml's jump ends the course on its first button; "Вали еще!" goes on to the dialog.
    pilot = Autopilot(stack.fake, db, course, user, clock=stack.clock, prefer=("Вали еще!",))
    await pilot.start()
    run = await pilot.play()
    assert run.status == "completed"
    dialog_ids = {e.id for e in course.elements if e.type == "dialog"}
    assert set(pilot.dialog_turns) & dialog_ids, "the student talked to the dialogs"
    texts = [s.text or "" for s in stack.fake.sent_to(user)]
    assert any(t == "Ответ: Привет!" for t in texts), "the model's reply reached the student"
    assert stack.llm.completions(), "the LLM was called"
    assert stack.fake.calls_of("sendChatAction", course.fake_bot), "typing was shown"


async def test_llm_outage_mid_dialog_leaves_the_run_resumable(stack, db, secret_box, make_account):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, DIALOG_COURSE)
    user = next(_users)
    pilot = Autopilot(stack.fake, db, course, user, clock=stack.clock)
    await pilot.start()
    await quiet(stack.fake, user)
    stack.llm.fail_next(1, status=500)
    stack.fake.push_text(course.fake_bot, user, "hello?")
    await stack.fake.wait_for(
        lambda: any("ещё раз" in (s.text or "") for s in stack.fake.sent_to(user)), 10
    )
    run = await active_run(db, account_id, course.bot_id, user)
    assert run is not None and run.state["awaiting"] == "dialog"
    stack.llm.fail_next(1, status="timeout")
    stack.fake.push_text(course.fake_bot, user, "still there?")
    await stack.fake.wait_for(
        lambda: sum("ещё раз" in (s.text or "") for s in stack.fake.sent_to(user)) >= 2, 15
    )
    stack.fake.push_text(course.fake_bot, user, "Привет!")
    await stack.fake.wait_for(
        lambda: any(s.text == "Ответ: Привет!" for s in stack.fake.sent_to(user)), 10
    )
    stack.fake.push_text(course.fake_bot, user, "конец")
    await stack.fake.wait_for(
        lambda: any("bye" in (s.text or "") for s in stack.fake.sent_to(user)), 10
    )


async def test_voice_in_a_dialog_is_transcribed_and_answered(stack, db, secret_box, make_account):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, DIALOG_COURSE)
    user = next(_users)
    await Autopilot(stack.fake, db, course, user, clock=stack.clock).start()
    await quiet(stack.fake, user)
    stack.fake.push_voice(course.fake_bot, user, "как дела".encode())
    await stack.fake.wait_for(
        lambda: any(s.text == "Ответ: как дела" for s in stack.fake.sent_to(user)), 10
    )
    texts = [s.text or "" for s in stack.fake.sent_to(user)]
    assert any("как дела" in t and "🎤" in t for t in texts), "the transcript is shown first"


async def test_account_endpoint_key_usage_and_budget(stack, db, secret_box, make_account):
    account_id = await make_account()
    async with db.tenant(account_id) as session:
        await llm_repo.set_settings(
            session,
            account_id,
            box=secret_box,
            base_url=stack.llm.base_url,
            api_key=Secret("sk-school"),
            model="school-model",
            monthly_token_limit=60,
        )
    course = await provision(stack, db, secret_box, account_id, DIALOG_COURSE)
    user = next(_users)
    await Autopilot(stack.fake, db, course, user, clock=stack.clock).start()
    await quiet(stack.fake, user)
    stack.fake.push_text(course.fake_bot, user, "Привет!")
    await stack.fake.wait_for(
        lambda: any(s.text == "Ответ: Привет!" for s in stack.fake.sent_to(user)), 10
    )
    request = stack.llm.completions()[-1]
    assert request.api_key == "sk-school"
    assert request.body["model"] == "school-model"
    async with db.tenant(account_id) as session:
        used = await llm_repo.tokens_used(session, account_id, day=stack.clock().date())
    assert used > 0

    async with db.tenant(account_id) as session:  # the budget is now spent
        await llm_repo.set_settings(
            session,
            account_id,
            box=secret_box,
            base_url=stack.llm.base_url,
            api_key=Secret("sk-school"),
            model="school-model",
            monthly_token_limit=used,
        )
    calls = len(stack.llm.completions())
    stack.fake.push_text(course.fake_bot, user, "ещё вопрос")
    await stack.fake.wait_for(
        lambda: any("недоступен" in (s.text or "") for s in stack.fake.sent_to(user)), 10
    )
    await stack.fake.wait_for(
        lambda: any("bye" in (s.text or "") for s in stack.fake.sent_to(user)), 10
    )
    assert len(stack.llm.completions()) == calls, "no call was made over budget"
