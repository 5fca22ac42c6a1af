"""Student commands as a student meets them (runtime/commands.py): the real runtime over
HTTP against the fake Bot API, real PostgreSQL and Redis, and the panel's API for the
teacher's help text. Each test checks what the student reads (the exact texts of
`student_texts`) and what the database holds afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from botapi.deeplink import build_start_payload
from runtime.commands import menu
from runtime.student_texts import Notice, notice_text
from storage.db import Database
from storage.models import Account, AccountMember, Bot, Run, RunStatus
from storage.repositories import tokens
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import Call, FakeBot, FakeTelegram, Sent
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import (
    ShiftableClock,
    active_run,
    add_bot,
    add_course_version,
    deploy,
    quiet,
    run_position,
    run_state,
)
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration

SOURCE = """
intro:
  type: message
  text: Welcome to the course
  button: Go
q_capital:
  type: quiz
  text: Capital of France?
  answers:
    - text: Lyon
    - text: Paris
      correct: yes
q_planets:
  type: input
  text: How many planets are there?
  correct_answer: "8"
  feedback_correct: Right, eight.
  feedback_incorrect: No, eight.
pause:
  type: delay
  text: See you in a few hours
  wait: 5h
after:
  type: message
  text: After the pause
"""
ZONE = "Asia/Tokyo"


def en(notice: Notice) -> str:
    return notice_text(notice, "en")


@dataclass
class School:
    db: Database
    fake: FakeTelegram
    runtime: TelegramRuntime
    account_id: int
    owner: int
    bot_id: int
    fake_bot: FakeBot
    deployment_id: int
    token_id: int
    token: str

    @property
    def payload(self) -> str:
        return build_start_payload(self.deployment_id, self.token)

    def texts(self, student: int) -> list[str | None]:
        return [sent.text for sent in self.fake.sent_to(student, self.fake_bot)]

    async def say(self, student: int, text: str) -> Sent:
        """The student types `text`; the bot's first message after it (once all are sent)."""
        seen = len(self.fake.sent_to(student, self.fake_bot))
        self.fake.push_text(self.fake_bot, student, text)
        return await self._reply(student, seen)

    async def press(self, student: int, message: Sent, button_text: str) -> Sent:
        seen = len(self.fake.sent_to(student, self.fake_bot))
        (button,) = [b for b in message.buttons if b["text"] == button_text]
        self.fake.press_button(self.fake_bot, student, message, button["callback_data"])
        return await self._reply(student, seen)

    async def _reply(self, student: int, seen: int) -> Sent:
        sent = await self.fake.wait_for_sent(student, seen + 1, bot=self.fake_bot, timeout=15)
        await quiet(self.fake, student)
        return sent[seen]

    async def run(self, student: int) -> Run:
        run = await active_run(self.db, self.account_id, self.bot_id, student)
        assert run is not None
        return run


def make_runtime(db, secret_box, redis, fake: FakeTelegram, clock) -> TelegramRuntime:
    return TelegramRuntime(
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


async def hosted(runtime: TelegramRuntime, bot_id: int) -> None:
    for _ in range(400):
        if runtime.pool.get(bot_id) is not None:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the bot was not hosted")


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def school(db, secret_box, redis, make_account) -> AsyncIterator[School]:
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    async with db.tenant(account_id) as session:
        await session.execute(
            update(Account).where(Account.id == account_id).values(time_zone=ZONE)
        )
    async with FakeTelegram() as fake:
        runtime = make_runtime(db, secret_box, redis, fake, ShiftableClock())
        await runtime.start()
        try:
            fake_bot = fake.add_bot()
            bot_id = await add_bot(db, secret_box, account_id, fake_bot)
            version_id = await add_course_version(db, account_id, SOURCE, "Planets")
            deployment_id = await deploy(db, account_id, version_id, bot_id)
            async with db.tenant(account_id) as session:
                row = await tokens.create(
                    session, account_id, deployment_id=deployment_id, kind="public"
                )
                token_id, token = row.id, row.token
            await hosted(runtime, bot_id)
            school = School(
                db,
                fake,
                runtime,
                account_id,
                owner,
                bot_id,
                fake_bot,
                deployment_id,
                token_id,
                token,
            )
            yield school
            runtime = school.runtime  # a test may have restarted it
        finally:
            await runtime.stop()


async def start(school: School, language: str = "en") -> int:
    """A new student opens the link; they are at the first element (its button)."""
    student = random_telegram_id()
    school.fake.add_user(student, language_code=language)
    school.fake.push_start(school.fake_bot, student, school.payload)
    await school.fake.wait_for_sent(student, 1, bot=school.fake_bot, timeout=15)
    await quiet(school.fake, student)
    assert school.texts(student) == ["Welcome to the course"]
    return student


async def to_the_input(school: School, student: int) -> None:
    """Go, then the right answer to the quiz: the input waits."""
    welcome = school.fake.sent_to(student, school.fake_bot)[-1]
    quiz = await school.press(student, welcome, "Go")
    assert quiz.poll is not None
    seen = len(school.fake.sent_to(student, school.fake_bot))
    school.fake.answer_poll(school.fake_bot, student, quiz.poll["id"], [1])
    await school.fake.wait_for_sent(student, seen + 1, bot=school.fake_bot, timeout=15)
    await quiet(school.fake, student)
    assert school.texts(student)[-1] == "How many planets are there?"


def menu_calls(school: School) -> list[Call]:
    """setMyCommands calls Telegram accepted for the school's bot."""
    return [c for c in school.fake.calls_of("setMyCommands", school.fake_bot) if c.status == 200]


# ---- the menu ------------------------------------------------------------------------------


async def test_the_menu_is_registered_once_in_both_languages(
    school: School, db, secret_box, redis
) -> None:
    await school.fake.wait_for(lambda: len(menu_calls(school)) >= 3)
    await asyncio.sleep(0.5)
    calls = menu_calls(school)
    assert len(calls) == 3
    assert {c.params.get("language_code") for c in calls} == {None, "ru", "en"}
    assert school.fake.commands_of(school.fake_bot, "ru") == [
        {"command": c, "description": d} for c, d in menu("ru")
    ]
    assert school.fake.commands_of(school.fake_bot, "en") == [
        {"command": c, "description": d} for c, d in menu("en")
    ]
    # the owner chose no panel language: everyone else gets the Russian menu
    assert school.fake.commands_of(school.fake_bot) == school.fake.commands_of(
        school.fake_bot, "ru"
    )

    # A runtime restart with nothing changed: Telegram is not asked again.
    await school.runtime.stop()
    school.runtime = make_runtime(db, secret_box, redis, school.fake, ShiftableClock())
    await school.runtime.start()
    await hosted(school.runtime, school.bot_id)
    await asyncio.sleep(1.0)
    assert len(menu_calls(school)) == 3

    # The owner switches the panel to English: the default menu follows at the next start.
    async with db.tenant(school.account_id) as session:
        await session.execute(
            update(AccountMember)
            .where(AccountMember.account_id == school.account_id)
            .values(ui_language="en")
        )
    await school.runtime.stop()
    school.runtime = make_runtime(db, secret_box, redis, school.fake, ShiftableClock())
    await school.runtime.start()
    await school.fake.wait_for(lambda: len(menu_calls(school)) >= 6)
    assert school.fake.commands_of(school.fake_bot) == school.fake.commands_of(
        school.fake_bot, "en"
    )
    async with db.tenant(school.account_id) as session:
        digest = await session.scalar(select(Bot.commands_hash).where(Bot.id == school.bot_id))
    assert digest is not None and len(digest) == 64


# ---- /progress -----------------------------------------------------------------------------


async def test_progress_mid_course_and_the_input_still_waits(school: School) -> None:
    student = await start(school)
    await to_the_input(school, student)
    before = await school.run(student)

    reply = await school.say(student, "/progress")
    assert reply.text == "\n".join(
        [
            en(Notice.PROGRESS_STEP).format(step=3, total=5, percent=40),
            en(Notice.PROGRESS_SCORE).format(score="1", maxscore="1"),
            en(Notice.NEXT_TEXT),
        ]
    )
    # Not an answer: no feedback, the same run at the same input, its state untouched.
    assert school.texts(student)[-2:] == ["How many planets are there?", reply.text]
    after = await school.run(student)
    assert after.id == before.id and run_position(after) == "q_planets"
    assert run_state(after) == run_state(before)

    # The input still takes the answer.
    reply = await school.say(student, "8")
    assert reply.text == "Right, eight."
    assert school.texts(student)[-1] == "See you in a few hours"

    # At the pause: when the next message comes, in the account's time zone.
    run = await school.run(student)
    (wait,) = run_state(run).waits
    due = wait.due_at.astimezone(ZoneInfo(ZONE))
    now = (await school.run(student)).updated_at.astimezone(ZoneInfo(ZONE))
    when = due.strftime("%H:%M") if due.date() == now.date() else due.strftime("%d.%m %H:%M")
    reply = await school.say(student, "/progress")
    assert reply.text == "\n".join(
        [
            en(Notice.PROGRESS_STEP).format(step=4, total=5, percent=60),
            en(Notice.PROGRESS_SCORE).format(score="2", maxscore="2"),
            en(Notice.NEXT_TIMER).format(when=f"{when} ({ZONE})"),
        ]
    )


async def test_progress_without_a_course_says_how_to_start(school: School) -> None:
    student = random_telegram_id()
    school.fake.add_user(student, language_code="ru")
    reply = await school.say(student, "/progress")
    assert reply.text == notice_text(Notice.NO_ACTIVE_RUN, "ru")


# ---- /help ---------------------------------------------------------------------------------


async def test_help_shows_the_teachers_text(school: School, db, secret_box) -> None:
    student = await start(school)
    reply = await school.say(student, "/help")
    assert reply.text == en(Notice.HELP_DEFAULT)

    ctx = panel_context(db, secret_box, telegram_api_base=school.fake.base_url)
    base = f"/api/v1/accounts/{school.account_id}/deployments/{school.deployment_id}"
    text = "Questions? Write to @teacher.\nNew lessons come every morning."
    async with panel_client(ctx) as client:
        headers = await user_headers(ctx, school.owner)
        blank = await client.patch(base, json={"help_text": "   "}, headers=headers)
        assert blank.status_code == 422
        response = await client.patch(base, json={"help_text": text}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["help_text"] == text

    reply = await school.say(student, "/help")
    assert reply.text == text
    assert run_position(await school.run(student)) == "intro"


# ---- /restart ------------------------------------------------------------------------------


async def test_restart_asks_and_begins_again_from_the_first_element(school: School) -> None:
    student = await start(school)
    await to_the_input(school, student)
    old = await school.run(student)

    question = await school.say(student, "/restart")
    assert question.text == en(Notice.CONFIRM_RESTART)
    assert [b["text"] for b in question.buttons] == ["Yes, restart", "Cancel"]

    # Cancel: the run goes on where it was.
    reply = await school.press(student, question, "Cancel")
    assert reply.text == en(Notice.CANCELLED)
    same = await school.run(student)
    assert same.id == old.id and run_position(same) == "q_planets"

    question = await school.say(student, "/restart")
    reply = await school.press(student, question, "Yes, restart")
    assert reply.text == en(Notice.RESTARTED)
    assert school.texts(student)[-1] == "Welcome to the course"
    new = await school.run(student)
    assert new.id != old.id and run_position(new) == "intro"
    assert new.deployment_id == school.deployment_id and new.token_id == school.token_id
    async with school.db.tenant(school.account_id) as session:
        ended = await session.get(Run, old.id)
        assert ended is not None and ended.status == RunStatus.STOPPED and not ended.is_active

    # The old question's buttons are about a run that is gone.
    reply = await school.press(student, question, "Yes, restart")
    assert reply.text == en(Notice.QUESTION_EXPIRED)
    assert (await school.run(student)).id == new.id
    # Every press (Go, Cancel, Yes twice) was answered: the student's app stops its spinner.
    answered = await school.fake.wait_for(
        lambda: (
            (calls := school.fake.calls_of("answerCallbackQuery", school.fake_bot))
            and len(calls) >= 4
            and calls
        )
    )
    assert len(answered) == 4 and all(call.status == 200 for call in answered)


async def test_a_restart_follows_the_start_rules(school: School) -> None:
    """The link was revoked since the student began: a new /start of it would be refused,
    so the restart is too, and the student keeps the run they have."""
    student = await start(school)
    old = await school.run(student)
    async with school.db.tenant(school.account_id) as session:
        await tokens.revoke(session, school.account_id, school.token_id)
    question = await school.say(student, "/restart")
    reply = await school.press(student, question, "Yes, restart")
    assert reply.text == en(Notice.TOKEN_REVOKED)
    kept = await school.run(student)
    assert kept.id == old.id and run_position(kept) == "intro"


# ---- /stop ---------------------------------------------------------------------------------


async def test_stop_asks_then_stops(school: School) -> None:
    student = await start(school, language="ru")
    run = await school.run(student)

    question = await school.say(student, "/stop")
    assert question.text == notice_text(Notice.CONFIRM_STOP, "ru")
    assert [b["text"] for b in question.buttons] == ["Да, остановить", "Отмена"]
    assert (await school.run(student)).id == run.id  # asking changes nothing

    reply = await school.press(student, question, "Да, остановить")
    assert reply.text == notice_text(Notice.STOPPED, "ru")
    assert await active_run(school.db, school.account_id, school.bot_id, student) is None
    async with school.db.tenant(school.account_id) as session:
        stopped = await session.get(Run, run.id)
        assert stopped is not None and stopped.status == RunStatus.STOPPED

    # Coming back as the message says: the link begins the course again.
    school.fake.push_start(school.fake_bot, student, school.payload)
    await school.fake.wait_for(lambda: school.texts(student)[-1] == "Welcome to the course")
    assert (await school.run(student)).id != run.id
