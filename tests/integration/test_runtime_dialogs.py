"""`dialog` elements through the runtime against a fake OpenAI-compatible API: courses with
dialogs end to end (the test courses, and the legacy ones where present), prompt variables,
the typing indicator, outages and timeouts, voice, per-account endpoints and budgets."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from adapters.llm import AccountLLM, Endpoint
from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from courses.loader import load_course
from engine.model import DialogElement
from engine.progress import Waiting
from engine.texts import Say, say
from runtime.student_texts import Notice, notice_text
from storage.crypto import Secret
from storage.models import Conversation
from storage.outbound import AllowList, OutboundClient
from storage.repositories import llm as llm_repo
from tests.course_files import fixture, legacy_courses
from tests.course_workers import shared_course_workers
from tests.fakes.listener import MARKER, Listener
from tests.fakes.openai_api import OGG_SIGNATURE, FakeOpenAI
from tests.fakes.telegram_api import FakeTelegram, Sent
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
    run_waiting,
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

# DIALOG_COURSE is in English, so the bot's own words (engine/texts.py) are too.

# Short enough that a test sees several refreshes of "typing…" during one slow LLM call.
TYPING_INTERVAL_S = 0.4


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
                rate_limits=RateLimits(chat_per_second=200.0, bot_per_second=500.0),
                sweep_interval_s=0.5,
                typing_interval_s=TYPING_INTERVAL_S,
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


async def in_the_dialog(stack: Stack, db, secret_box, account_id: int) -> tuple[Course, int]:
    """A new student who started DIALOG_COURSE and now talks to its dialog (the bot has
    gone quiet after the opening)."""
    course = await provision(stack, db, secret_box, account_id, DIALOG_COURSE)
    user = next(_users)
    await Autopilot(stack.fake, db, course, user, clock=stack.clock).start()
    await quiet(stack.fake, user)
    return course, user


def _chat_actions(stack: Stack, course: Course, user: int) -> list[float]:
    """When each sendChatAction to the student's chat arrived (monotonic seconds)."""
    return [
        call.time
        for call in stack.fake.calls_of("sendChatAction", course.fake_bot)
        if str(call.params.get("chat_id")) == str(user)
    ]


def _heard(stack: Stack, sent: Sent) -> str:
    """What the student reads, or hears from a voice message (the fake speech is the Ogg
    signature followed by the words)."""
    if sent.method != "sendVoice":
        return sent.text or ""
    audio = stack.fake.file_data(sent.message["voice"]["file_id"]) or b""
    return audio.removeprefix(OGG_SIGNATURE).decode()


def _visible_reply(text: str) -> str:
    """What the student reads of a model reply: stop markers are removed, the rest sent."""
    return text.replace("{STOP}", "").replace("#конецдиалога", "").strip()


@pytest.mark.parametrize(
    "path",
    [
        fixture("legacy_forms.yaml"),
        fixture("every_element.yaml"),
        *legacy_courses("test.yml", "test_all_elements.yml"),
    ],
    ids=lambda p: p.name,
)
async def test_courses_with_dialogs_finish_end_to_end(stack, db, secret_box, make_account, path):
    account_id = await make_account()
    source = path.read_text(encoding="utf-8")
    course = await provision(stack, db, secret_box, account_id, source)
    dialogs = [e for e in course.elements if isinstance(e, DialogElement)]
    assert dialogs, f"{path.name} has dialog elements"
    user = next(_users)
    # legacy_forms.yaml's and test.yml's jumps end the course on their first button;
    # "Продолжим!" and "Вали еще!" go on to the dialog. every_element.yaml's and
    # test_all_elements.yml's jumps go on with their first button.
    pilot = Autopilot(
        stack.fake, db, course, user, clock=stack.clock, prefer=("Продолжим!", "Вали еще!")
    )
    await pilot.start()
    run = await pilot.play()
    assert run.status == "completed"
    assert set(pilot.dialog_turns) == {e.id for e in dialogs}, "every dialog was played"

    requests = stack.llm.completions()
    for element in dialogs:
        # A dialog's history opens with its own text, as the assistant's first message.
        opening = {"role": "assistant", "content": element.text.strip()}
        asked = [r for r in requests if opening in r.body["messages"]]
        assert asked, f"{element.id} asked the LLM"
        for request in asked:
            system = request.body["messages"][0]
            assert system["role"] == "system", element.id
            # The template's literal text arrives whole, with every variable substituted.
            for literal in re.split(r"\{\{.*?\}\}", element.prompt):
                assert literal.strip() in system["content"], element.id
            assert all("{{" not in m["content"] for m in request.body["messages"]), element.id
        typed = [m["content"] for r in asked for m in r.body["messages"] if m["role"] == "user"]
        assert pilot.dialog_lines[0] in typed, f"the student's line reached {element.id}'s LLM"

    texts = [_heard(stack, s) for s in stack.fake.sent_to(user)]
    replies = [_visible_reply(stack.llm.reply(r.body["messages"])) for r in requests]
    unseen = Counter(r for r in replies if r) - Counter(texts)
    assert not unseen, f"LLM replies that never reached the student: {unseen}"
    assert _chat_actions(stack, course, user), "typing was shown"


async def test_dialog_prompt_variables_carry_the_students_earlier_answer(
    stack, db, secret_box, make_account
):
    source = """\
Ask_Name:
  type: input
  text: Как тебя зовут?
Chat:
  type: dialog
  text: Поговорим.
  prompt: "Имя студента: {{Ask_Name[1}}. Начало урока: {{Ask_Name}}"
After:
  type: end
  text: Thanks, bye.
"""
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, source)
    user = next(_users)
    pilot = Autopilot(stack.fake, db, course, user, clock=stack.clock, text_answer="Ада Лавлейс")
    await pilot.start()
    run = await pilot.play()
    assert run.status == "completed"
    system = stack.llm.completions()[0].body["messages"][0]["content"]
    assert system == (
        "Имя студента: user: Ада Лавлейс. "
        "Начало урока: assistant: Как тебя зовут?\n\nuser: Ада Лавлейс"
    )


async def test_typing_is_refreshed_while_the_llm_thinks_and_stops_with_its_reply(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course, user = await in_the_dialog(stack, db, secret_box, account_id)
    stack.llm.latency = 1.5
    asked_at = time.monotonic()
    stack.fake.push_text(course.fake_bot, user, "Привет!")
    reply = await stack.fake.wait_for(
        lambda: next((s for s in stack.fake.sent_to(user) if s.text == "Ответ: Привет!"), None),
        10,
    )
    during = [t for t in _chat_actions(stack, course, user) if asked_at <= t <= reply.time]
    # One before the call, then a refresh every 0.4 s of the 1.5 s the model takes.
    assert len(during) >= 3, f"typing shown {len(during)} times during a 1.5 s call"
    await asyncio.sleep(1.0)
    late = [t for t in _chat_actions(stack, course, user) if t > reply.time]
    assert not late, "typing kept being shown after the reply"


async def test_llm_outage_mid_dialog_leaves_the_run_resumable(stack, db, secret_box, make_account):
    account_id = await make_account()
    course, user = await in_the_dialog(stack, db, secret_box, account_id)
    stack.llm.fail_next(1, status=500)
    stack.fake.push_text(course.fake_bot, user, "hello?")
    await stack.fake.wait_for(
        lambda: any("again" in (s.text or "") for s in stack.fake.sent_to(user)), 10
    )
    run = await active_run(db, account_id, course.bot_id, user)
    assert run is not None and run_waiting(run) == Waiting("dialog")
    stack.llm.fail_next(1, status="timeout")
    stack.fake.push_text(course.fake_bot, user, "still there?")
    await stack.fake.wait_for(
        lambda: sum("again" in (s.text or "") for s in stack.fake.sent_to(user)) >= 2, 15
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
    course, user = await in_the_dialog(stack, db, secret_box, account_id)
    stack.fake.push_voice(course.fake_bot, user, "как дела".encode())
    await stack.fake.wait_for(
        lambda: any(s.text == "Ответ: как дела" for s in stack.fake.sent_to(user)), 10
    )
    texts = [s.text or "" for s in stack.fake.sent_to(user)]
    assert any("как дела" in t and "🎤" in t for t in texts), "the transcript is shown first"


SPOKEN_DIALOG_COURSE = """\
Chat:
  type: dialog
  text: Поговорим голосом.
  prompt: You are a tutor.
  voice_response: true
  tts_model: tts-1-hd
  tts_voice: nova
  tts_speed: 1.25
After:
  type: end
  text: Спасибо!
"""


async def test_a_dialog_with_voice_response_answers_with_a_voice_message(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, SPOKEN_DIALOG_COURSE)
    user = next(_users)
    await Autopilot(stack.fake, db, course, user, clock=stack.clock).start()
    await quiet(stack.fake, user)
    stack.fake.push_text(course.fake_bot, user, "Привет")

    voice = await stack.fake.wait_for(
        lambda: next((s for s in stack.fake.sent_to(user) if s.method == "sendVoice"), None), 10
    )
    assert _heard(stack, voice) == "Ответ: Привет"
    [speech] = stack.llm.speeches()
    assert speech.body == {
        "model": "tts-1-hd",
        "voice": "nova",
        "input": "Ответ: Привет",
        "response_format": "opus",
        "speed": 1.25,
    }
    assert not any(s.text == "Ответ: Привет" for s in stack.fake.sent_to(user))


async def test_a_provider_without_speech_gives_the_text_and_the_dialog_goes_on(
    stack, db, secret_box, make_account, caplog
):
    stack.llm.speech = False
    account_id = await make_account()
    course = await provision(stack, db, secret_box, account_id, SPOKEN_DIALOG_COURSE)
    user = next(_users)
    await Autopilot(stack.fake, db, course, user, clock=stack.clock).start()
    await quiet(stack.fake, user)
    with caplog.at_level("WARNING", logger="adapters.telegram.delivery"):
        stack.fake.push_text(course.fake_bot, user, "Привет")
        await stack.fake.wait_for(
            lambda: any(s.text == "Ответ: Привет" for s in stack.fake.sent_to(user)), 10
        )
        stack.fake.push_text(course.fake_bot, user, "конец")
        await stack.fake.wait_for(
            lambda: any(s.text == "Спасибо!" for s in stack.fake.sent_to(user)), 10
        )
    assert not any(s.method == "sendVoice" for s in stack.fake.sent_to(user))
    mine = f"bot {course.bot_id}: "
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "adapters.telegram.delivery" and r.getMessage().startswith(mine)
    ]
    assert len(warnings) == 1 and "no speech" in warnings[0]


@pytest.mark.parametrize("own_endpoint", [True, False], ids=["own-endpoint", "default-endpoint"])
async def test_account_timeout_gives_the_fallback_and_keeps_the_dialog(
    stack, db, secret_box, make_account, own_endpoint
):
    account_id = await make_account()
    async with db.tenant(account_id) as session:
        await llm_repo.set_settings(
            session,
            account_id,
            box=secret_box,
            base_url=stack.llm.base_url if own_endpoint else None,
            api_key=Secret("sk-school") if own_endpoint else None,
            model=None,
            timeout_s=0.5,
        )
    course, user = await in_the_dialog(stack, db, secret_box, account_id)
    # Slower than the account's 0.5 s, faster than the process default (3 s) would allow.
    stack.llm.latency = 2.0
    stack.fake.push_text(course.fake_bot, user, "ты тут?")
    await stack.fake.wait_for(
        lambda: any(s.text == say(Say.LLM_FAILED, "en") for s in stack.fake.sent_to(user)), 2.0
    )
    run = await active_run(db, account_id, course.bot_id, user)
    assert run is not None and run_waiting(run) == Waiting("dialog")
    stack.llm.latency = 0.0
    stack.fake.push_text(course.fake_bot, user, "Привет!")
    await stack.fake.wait_for(
        lambda: any(s.text == "Ответ: Привет!" for s in stack.fake.sent_to(user)), 10
    )
    assert not any(s.text == "Ответ: ты тут?" for s in stack.fake.sent_to(user))


async def test_voice_without_speech_to_text_asks_to_type_and_the_dialog_goes_on(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course, user = await in_the_dialog(stack, db, secret_box, account_id)
    # An OpenAI-compatible provider without /audio/transcriptions answers 404.
    stack.llm.fail_next(1, status=404)
    stack.fake.push_voice(course.fake_bot, user, "как дела".encode())
    await stack.fake.wait_for(
        lambda: any(
            s.text == say(Say.TYPE_INSTEAD_OF_VOICE, "en") for s in stack.fake.sent_to(user)
        ),
        10,
    )
    assert [r.status for r in stack.llm.requests] == [404], "only the transcription was tried"
    run = await active_run(db, account_id, course.bot_id, user)
    assert run is not None and run_waiting(run) == Waiting("dialog")
    stack.fake.push_text(course.fake_bot, user, "Привет!")
    await stack.fake.wait_for(
        lambda: any(s.text == "Ответ: Привет!" for s in stack.fake.sent_to(user)), 10
    )


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
    course, user = await in_the_dialog(stack, db, secret_box, account_id)
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
    unavailable = notice_text(Notice.ASSISTANT_UNAVAILABLE, None)
    await stack.fake.wait_for(
        lambda: any(s.text == unavailable for s in stack.fake.sent_to(user)), 10
    )
    await stack.fake.wait_for(
        lambda: any("bye" in (s.text or "") for s in stack.fake.sent_to(user)), 10
    )
    assert len(stack.llm.completions()) == calls, "no call was made over budget"
    run = await latest_run(db, account_id, user)
    assert run is not None and run.status == "completed", "the course went on without the LLM"


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/v1",
        "https://127.0.0.1:{port}/v1",
        "https://[::1]:{port}/v1",
        "https://10.0.0.5/v1",
        "https://169.254.169.254/v1",
        "https://localhost:{port}/v1",
    ],
)
async def test_an_account_endpoint_inside_the_network_is_never_called(
    stack, db, secret_box, make_account, template
):
    """An endpoint written straight into the database (the panel refuses it): the student
    gets the usual apology, the listener hears nothing, its text is nowhere. The LLM the
    operator listed (the fake's exact host:port) keeps working for the others."""
    account_id = await make_account()
    async with Listener() as inside:
        async with db.tenant(account_id) as session:
            await llm_repo.set_settings(
                session,
                account_id,
                box=secret_box,
                base_url=template.format(port=inside.port),
                api_key=Secret("sk-school"),
                model=None,
            )
        course, user = await in_the_dialog(stack, db, secret_box, account_id)
        stack.fake.push_text(course.fake_bot, user, "Привет!")
        await stack.fake.wait_for(
            lambda: any(s.text == say(Say.LLM_FAILED, "en") for s in stack.fake.sent_to(user)), 10
        )
    assert inside.connections == 0
    assert not any(MARKER in str(call.params) for call in stack.fake.calls)
    async with db.tenant(account_id) as session:
        said = (await session.scalars(select(Conversation.text))).all()
    assert "Привет!" in said and not any(MARKER in text for text in said)
    run = await active_run(db, account_id, course.bot_id, user)
    assert run is not None and run_waiting(run) == Waiting("dialog")
