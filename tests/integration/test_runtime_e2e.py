"""The Telegram runtime end to end: real PostgreSQL and Redis, real aiogram over HTTP against
the fake Bot API, students playing the test courses through deep links."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from adapters.telegram.webhook import webhook_router
from courses.loader import load_course
from engine.events import Text
from runtime import journal_batch
from runtime.step_plan import react
from storage import system
from storage.models import Conversation, ProcessedUpdate, RefusedMedia, Run
from storage.repositories import media
from tests.course_files import fixture_text
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.runtime_support import (
    Autopilot,
    Course,
    ShiftableClock,
    active_run,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    latest_run,
    quiet,
    right_answer,
    run_position,
    run_waiting,
    wrong_answer,
)

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    fake: FakeTelegram
    runtime: TelegramRuntime
    clock: ShiftableClock
    redis: Redis


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    """One fake Bot API for the module: bots made by earlier tests stay valid there."""
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def stack(db, secret_box, redis, fake) -> AsyncIterator[Stack]:
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
    await runtime.start()
    try:
        yield Stack(fake, runtime, clock, redis)
    finally:
        await runtime.stop()


_next_user = iter(range(5_000_000, 6_000_000))


def new_user() -> int:
    return next(_next_user)


async def provision(
    stack: Stack, db, secret_box, account_id: int, course_file: str, **deploy_options: object
) -> Course:
    source = fixture_text(course_file)
    return await provision_source(
        stack, db, secret_box, account_id, source, course_file, **deploy_options
    )


async def provision_source(
    stack: Stack, db, secret_box, account_id: int, source: str, title: str, **deploy_options
) -> Course:
    """A new bot hosting `source` as a deployed course with a public token."""
    fake_bot = stack.fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, title)
    deployment_id = await deploy(db, account_id, version_id, bot_id, **deploy_options)
    token = await add_token(db, account_id, deployment_id)
    await wait_hosted(stack, bot_id)
    elements = load_course(source).course.elements
    return Course(account_id, bot_id, fake_bot, deployment_id, token, elements)


async def wait_hosted(stack: Stack, bot_id: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while stack.runtime.pool.get(bot_id) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"bot {bot_id} was not started")
        await asyncio.sleep(0.05)


async def conversation_of(db, account_id: int, run_id: int) -> list[Conversation]:
    async with db.tenant(account_id) as session:
        rows = await session.scalars(
            select(Conversation)
            .where(Conversation.account_id == account_id, Conversation.run_id == run_id)
            .order_by(Conversation.id)
        )
        return list(rows)


async def test_three_accounts_two_bots_each_students_finish_their_own_courses(
    stack, db, secret_box, make_account
):
    files = ["words_and_charts.yaml", "chat_basics.yaml", "scored_exam.yaml"]
    courses = []
    for account_index in range(3):
        account_id = await make_account()
        for bot_index in range(2):
            course_file = files[(account_index + bot_index) % len(files)]
            courses.append(await provision(stack, db, secret_box, account_id, course_file))

    pilots = [
        Autopilot(
            stack.fake,
            db,
            course,
            new_user(),
            clock=stack.clock,
            pick=right_answer if index % 2 == 0 else wrong_answer,
        )
        for index, course in enumerate(courses)
    ]
    await asyncio.gather(*(p.start() for p in pilots))
    finished = await asyncio.gather(*(p.play() for p in pilots))

    for pilot, run in zip(pilots, finished, strict=True):
        assert run.status == "completed", (pilot.course, run.state)
        assert run.bot_id == pilot.course.bot_id
        assert run.token_id is not None
        lines = await conversation_of(db, pilot.course.account_id, run.id)
        assert any(line.role == "user" for line in lines)
        quiz_ids = {e.id for e in pilot.course.elements if e.type == "quiz"}
        quiz_scores = [
            line.score for line in lines if line.element_id in quiz_ids and line.maxscore
        ]
        assert quiz_scores
        # Right-answer students ace every quiz, wrong-answer students miss every one.
        expected = 1 if pilot.pick is right_answer else 0
        assert set(quiz_scores) == {expected}, (pilot.course.deployment_id, quiz_scores)
    # Each bot only ever talked to its own student.
    for pilot in pilots:
        bot_id = pilot.course.fake_bot.id
        chats = {s.chat_id for s in stack.fake.sent if s.bot_id == bot_id}
        assert chats == {pilot.user_id}


async def test_test_verdict_and_revision_reach_the_student(stack, db, secret_box, make_account):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "scored_exam.yaml")
    pilot = Autopilot(
        stack.fake,
        db,
        course,
        new_user(),
        clock=stack.clock,
        pick=wrong_answer,
        text_answer="wrong",
    )
    await pilot.start()
    run = await pilot.play()
    assert run.status == "completed"
    texts = [s.text or "" for s in stack.fake.sent_to(pilot.user_id)]
    assert any("0" in t and "из" in t for t in texts), "the test element shows score of maxscore"
    assert any("ошибк" in t.lower() for t in texts), "the revision announces the mistakes"


async def test_bot_added_while_running_answers_first_start_within_5s(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    fake_bot = stack.fake.add_bot()
    source = fixture_text("chat_basics.yaml")
    started = time.monotonic()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, source, "late")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id)
    user = new_user()
    stack.fake.push_start(fake_bot, user, f"cd_{deployment_id}_{token}")
    await stack.fake.wait_for(lambda: stack.fake.sent_to(user, fake_bot), timeout=5.0)
    assert time.monotonic() - started < 5.0


async def test_group_token_max_uses_5_hit_by_20_concurrent_starts_gives_exactly_5_runs(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    group_token = await add_token(db, account_id, course.deployment_id, "group", max_uses=5)
    users = [new_user() for _ in range(20)]
    for user in users:
        stack.fake.push_start(course.fake_bot, user, f"cd_{course.deployment_id}_{group_token}")
    await asyncio.gather(*(quiet(stack.fake, user) for user in users))
    for user in users:
        await stack.fake.wait_for(lambda u=user: stack.fake.sent_to(u, course.fake_bot), 10.0)
    async with db.tenant(account_id) as session:
        count = await session.scalar(
            select(func.count()).select_from(Run).where(Run.deployment_id == course.deployment_id)
        )
    assert count == 5
    refused = [
        u
        for u in users
        if any("максимальное число" in (s.text or "") for s in stack.fake.sent_to(u))
    ]
    assert len(refused) == 15


@pytest.mark.parametrize(
    "payload",
    [
        "cd_",
        "cd_1_",
        "cd_999999_x",
        "x" * 200,
        "cd_1_' OR 1=1 --",
        "cd_1_токен",
        "cd_1_\u0000\u202e",
        "cd_01_abc",
    ],
)
async def test_hostile_payloads_get_a_clear_message_and_create_nothing(
    stack, db, secret_box, make_account, payload
):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    user = new_user()
    stack.fake.push_start(course.fake_bot, user, payload)
    await stack.fake.wait_for(lambda: stack.fake.sent_to(user, course.fake_bot), 5.0)
    assert "недействительна" in (stack.fake.sent_to(user)[0].text or "")
    assert await latest_run(db, account_id, user) is None
    assert stack.runtime.pool.get(course.bot_id) is not None  # still serving


async def test_another_accounts_deployment_id_with_valid_looking_token_is_refused(
    stack, db, secret_box, make_account
):
    account_a = await make_account()
    account_b = await make_account()
    course_a = await provision(stack, db, secret_box, account_a, "chat_basics.yaml")
    course_b = await provision(stack, db, secret_box, account_b, "chat_basics.yaml")
    user = new_user()
    # B's real deployment id and B's real token, sent to A's bot.
    stack.fake.push_start(course_a.fake_bot, user, course_b.payload)
    await stack.fake.wait_for(lambda: stack.fake.sent_to(user, course_a.fake_bot), 5.0)
    assert "недействительна" in (stack.fake.sent_to(user)[0].text or "")
    assert await latest_run(db, account_a, user) is None
    assert await latest_run(db, account_b, user) is None


async def test_duplicate_updates_are_processed_once(stack, db, secret_box, make_account):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    user = new_user()
    update = stack.fake.push_start(course.fake_bot, user, course.payload)
    await quiet(stack.fake, user)
    before = len(stack.fake.sent_to(user))
    stack.fake.push_update(course.fake_bot, update, duplicate=True)
    await asyncio.sleep(1.5)
    assert len(stack.fake.sent_to(user)) == before
    async with db.tenant(account_id) as session:
        count = await session.scalar(
            select(func.count()).select_from(Run).where(Run.chat_id == user)
        )
    assert count == 1


async def test_fsm_keys_are_prefixed_by_account_and_bot_and_flushall_loses_no_progress(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    pilot = Autopilot(stack.fake, db, course, new_user(), clock=stack.clock)
    await pilot.start()
    await quiet(stack.fake, pilot.user_id)
    keys = [k.decode() for k in await stack.redis.keys(f"cb:{account_id}:{course.bot_id}:*")]
    assert keys and all(
        k.startswith(f"cb:{account_id}:{course.bot_id}:{pilot.user_id}:") for k in keys
    )

    for _ in range(3):  # a few steps in, then Redis loses everything
        await pilot.step()
        await quiet(stack.fake, pilot.user_id)
    position = run_position(await active_run(db, account_id, course.bot_id, pilot.user_id))
    await stack.redis.flushall()

    run = await active_run(db, account_id, course.bot_id, pilot.user_id)
    assert run is not None and run_position(run) == position
    finished = await pilot.play()
    assert finished.status == "completed"


async def test_delay_fires_once_after_it_falls_due(stack, db, secret_box, make_account):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    user = new_user()
    pilot = Autopilot(stack.fake, db, course, user, clock=stack.clock)
    await pilot.start()
    # Play until the run waits on a timer (chat_basics has "Давай завтра": wait 1d).
    for _ in range(60):
        await quiet(stack.fake, user)
        run = await active_run(db, account_id, course.bot_id, user)
        assert run is not None
        last = pilot._latest_unhandled()
        tomorrow = [b for b in (last.buttons if last else []) if "завтра" in b.get("text", "")]
        if tomorrow:
            pilot.handled.add(last.message_id)
            stack.fake.press_button(course.fake_bot, user, last, tomorrow[0]["callback_data"])
            break
        await pilot.step()
    else:
        pytest.fail("never reached the jump with a wait")
    await quiet(stack.fake, user)
    run = await active_run(db, account_id, course.bot_id, user)
    assert run_waiting(run).timer is not None, "a durable wait is pending"
    sent_before = len(stack.fake.sent_to(user))
    await asyncio.sleep(1.0)
    assert len(stack.fake.sent_to(user)) == sent_before, "nothing happens before it is due"

    stack.clock.advance(__import__("datetime").timedelta(days=1, seconds=5))
    await stack.fake.wait_for(lambda: len(stack.fake.sent_to(user)) > sent_before, 5.0)
    await quiet(stack.fake, user)
    after = len(stack.fake.sent_to(user))
    await asyncio.sleep(1.0)
    assert len(stack.fake.sent_to(user)) == after, "fired exactly once"
    async with db.system() as session:
        assert await system.claim_due_waits(session, stack.clock(), limit=1) == []


async def test_student_blocking_the_bot_marks_the_run_blocked_and_others_continue(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    blocker, other = new_user(), new_user()
    blocker_pilot = Autopilot(stack.fake, db, course, blocker, clock=stack.clock)
    other_pilot = Autopilot(stack.fake, db, course, other, clock=stack.clock)
    await blocker_pilot.start()
    await other_pilot.start()
    await quiet(stack.fake, blocker)
    stack.fake.block_user(course.fake_bot, blocker)
    await blocker_pilot.step()  # the next message to the blocker gets 403

    async def blocked() -> bool:
        finished = await latest_run(db, account_id, blocker)
        return finished is not None and finished.status == "blocked"

    deadline = time.monotonic() + 10
    while not await blocked():
        assert time.monotonic() < deadline, "run was not marked blocked"
        await asyncio.sleep(0.1)
    assert (await other_pilot.play()).status == "completed"


async def test_webhook_mode_checks_the_secret_and_serves_students(
    db, secret_box, redis, fake, make_account
):
    import uvicorn
    from fastapi import FastAPI

    port = _free_port()
    clock = ShiftableClock()
    runtime = TelegramRuntime(
        db,
        secret_box,
        redis,
        RuntimeOptions(
            api_base=fake.base_url,
            public_base_url=f"http://127.0.0.1:{port}",
            rate_limits=RateLimits(chat_per_second=200.0),
        ),
        workers=shared_course_workers(),
        clock=clock,
        reconcile_interval_s=0.3,
    )
    app = FastAPI()
    app.include_router(webhook_router(db, secret_box))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    await runtime.start()
    try:
        account_id = await make_account()
        fake_bot = fake.add_bot()
        bot_id = await add_bot(db, secret_box, account_id, fake_bot, mode="webhook")
        source = fixture_text("chat_basics.yaml")
        version_id = await add_course_version(db, account_id, source, "hook")
        deployment_id = await deploy(db, account_id, version_id, bot_id)
        token = await add_token(db, account_id, deployment_id)
        stack = Stack(fake, runtime, clock, redis)
        await wait_hosted(stack, bot_id)
        hosted = runtime.pool.get(bot_id)
        assert fake.calls_of("setWebhook", fake_bot), "the webhook was registered"

        import httpx

        url = f"http://127.0.0.1:{port}/telegram/webhook/{hosted.config.public_id}"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1, "type": "private"},
                "from": {"id": 1, "is_bot": False, "first_name": "x"},
                "text": f"/start cd_{deployment_id}_{token}",
            },
        }
        async with httpx.AsyncClient() as client:
            wrong = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            missing = await client.post(url, json=update)
            unknown = await client.post(url.replace(hosted.config.public_id, "nobody"), json=update)
            secret = {"X-Telegram-Bot-Api-Secret-Token": hosted.config.webhook_secret or ""}
            junk = await client.post(url, json={"update_id": "1", "message": []}, headers=secret)
            not_json = await client.post(url, content=b"{", headers=secret)
        assert (wrong.status_code, missing.status_code, unknown.status_code) == (401, 401, 404)
        assert (junk.status_code, not_json.status_code) == (400, 400)
        assert await latest_run(db, account_id, 1) is None

        course = Course(
            account_id, bot_id, fake_bot, deployment_id, token, load_course(source).course.elements
        )
        pilot = Autopilot(fake, db, course, new_user(), clock=clock)
        await pilot.start()
        assert (await pilot.play()).status == "completed"
        assert all(
            d.secret_header == hosted.config.webhook_secret
            for d in fake.deliveries
            if d.bot_id == fake_bot.id
        )
    finally:
        await runtime.stop()
        server.should_exit = True
        await serving


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_plan_limit_on_active_students_refuses_new_starts(
    stack, db, secret_box, make_account
):
    from storage.repositories import accounts

    account_id = await make_account()
    async with db.tenant(account_id) as session:
        await accounts.update_account(session, account_id, limits={"max_active_students": 2})
    course = await provision(stack, db, secret_box, account_id, "chat_basics.yaml")
    users = [new_user() for _ in range(3)]
    for user in users:
        stack.fake.push_start(course.fake_bot, user, course.payload)
        await stack.fake.wait_for(lambda u=user: stack.fake.sent_to(u, course.fake_bot), 10)
        await quiet(stack.fake, user)
    started = [u for u in users if await latest_run(db, account_id, u) is not None]
    assert started == users[:2]
    assert "нет свободных мест" in (stack.fake.sent_to(users[2])[0].text or "")


async def test_an_update_our_code_fails_on_is_recorded_and_the_course_goes_on(
    stack, db, secret_box, make_account, monkeypatch
):
    """A poison update (here: any text "boom", made to fail inside handling) is rolled back,
    marked processed with its error, and never wedges the chat: the student finishes."""

    def failing(inbound, has_active_run):  # type: ignore[no-untyped-def]
        if isinstance(inbound.action, Text) and inbound.action.text == "boom":
            raise RuntimeError("boom: handling failed")
        return react(inbound, has_active_run)

    monkeypatch.setattr(journal_batch, "react", failing)
    course = await provision(stack, db, secret_box, await make_account(), "chat_basics.yaml")
    student = Autopilot(stack.fake, db, course, new_user(), clock=stack.clock)
    await student.start()
    poison = stack.fake.push_text(course.fake_bot, student.user_id, "boom")

    async def poison_row() -> ProcessedUpdate | None:
        async with db.tenant(course.account_id) as session:
            return await session.scalar(
                select(ProcessedUpdate).where(
                    ProcessedUpdate.account_id == course.account_id,
                    ProcessedUpdate.bot_id == course.bot_id,
                    ProcessedUpdate.update_id == poison["update_id"],
                    ProcessedUpdate.processed_at.is_not(None),
                )
            )

    deadline = time.monotonic() + 10
    while (row := await poison_row()) is None:
        assert time.monotonic() < deadline, "the failing update was never marked processed"
        await asyncio.sleep(0.1)
    assert row.error == "RuntimeError: boom: handling failed"
    run = await student.play()
    assert run.status == "completed"


DRIVE_SHARE = "https://drive.google.com/file/d/1AbC-d_9/view?usp=sharing"
DRIVE_LESSON = f"""
Lesson:
  type: message
  text: "<b>Схема</b> урока"
  parse_mode: HTML
  media:
    - {DRIVE_SHARE}
  button: Дальше
The_End:
  type: end
  text: Всё
"""


async def test_a_drive_image_is_fetched_directly_and_a_refused_one_keeps_its_formatting(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision_source(stack, db, secret_box, account_id, DRIVE_LESSON, "drive")
    fake_bot = course.fake_bot
    stack.fake.fail_next(
        "sendPhoto", 400, description="Bad Request: wrong type of the web page content"
    )
    student = new_user()
    stack.fake.push_start(fake_bot, student, course.payload)

    [fallback] = await stack.fake.wait_for_sent(student, count=1)
    [attempt] = stack.fake.calls_of("sendPhoto", fake_bot)
    assert attempt.params["photo"] == (
        "https://drive.usercontent.google.com/download?id=1AbC-d_9&export=download"
    )
    assert fallback.method == "sendMessage"
    assert fallback.message["text"] == f"<b>Схема</b> урока\n{DRIVE_SHARE}"
    [words] = stack.fake.calls_of("sendMessage", fake_bot)
    assert words.params["parse_mode"] == "HTML"
    assert [b["text"] for b in fallback.buttons] == ["Дальше"]
    async with db.tenant(account_id) as session:
        [refusal] = await session.scalars(
            select(RefusedMedia).where(RefusedMedia.account_id == account_id)
        )
    assert (refusal.element_id, refusal.url) == ("Lesson", DRIVE_SHARE)
    assert "wrong type of the web page content" in refusal.reason


async def test_media_telegram_fetched_once_is_sent_by_its_file_id_afterwards(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision_source(stack, db, secret_box, account_id, DRIVE_LESSON, "drive")
    fake_bot = course.fake_bot
    first, second = new_user(), new_user()

    stack.fake.push_start(fake_bot, first, course.payload)
    [photo] = await stack.fake.wait_for_sent(first, count=1)
    stack.fake.push_start(fake_bot, second, course.payload)
    await stack.fake.wait_for_sent(second, count=1)

    fetched, reused = stack.fake.calls_of("sendPhoto", fake_bot)
    assert fetched.params["photo"].startswith("https://drive.usercontent.google.com/")
    assert reused.params["photo"] == photo.message["photo"][-1]["file_id"]
    async with db.tenant(account_id) as session:
        assert await media.file_ids(session, account_id, course.bot_id) == {
            DRIVE_SHARE: photo.message["photo"][-1]["file_id"]
        }
