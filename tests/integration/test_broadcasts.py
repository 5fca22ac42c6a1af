"""Broadcasts, end to end: a teacher counts an audience, tests the message on themselves,
sends it, watches it go and cancels it; the runtime, the panel, PostgreSQL and the fake Bot
API (over HTTP) are real. Students are seeded as runs in the states the audiences pick
(the journal alone writes runs; a test that needs a finished or stuck one seeds it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from runtime.student_texts import Notice, notice_text
from storage.db import Database
from storage.models import BroadcastRecipient, Run, RunStatus
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram, Sent
from tests.integration import seeding
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import (
    Course,
    active_run,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    quiet,
    run_state,
    until_hosted,
)
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration

COURSE = (
    "hello:\n  type: message\n  text: Welcome to the course\n\n"
    "ask:\n  type: input\n  text: What is your name?\n\n"
    "thanks:\n  type: message\n  text: Thank you!\n\n"
    "last:\n  type: message\n  text: Goodbye\n"
)


@dataclass
class School:
    course: Course
    version_id: int
    panel: httpx.AsyncClient
    headers: dict[str, str]
    owner: int
    fake: FakeTelegram
    runtimes: list[TelegramRuntime]
    start_runtime: Callable[[], Any]

    @property
    def base(self) -> str:
        return f"/api/v1/accounts/{self.course.account_id}"

    async def broadcast(self, **body: Any) -> dict[str, Any]:
        body.setdefault("deployment_id", self.course.deployment_id)
        body.setdefault("audience", "all")
        made = await self.panel.post(f"{self.base}/broadcasts", json=body, headers=self.headers)
        assert made.status_code == 202, made.text
        return made.json()

    async def progress(self, broadcast_id: int) -> dict[str, Any]:
        got = await self.panel.get(f"{self.base}/broadcasts/{broadcast_id}", headers=self.headers)
        assert got.status_code == 200, got.text
        return got.json()

    async def until(
        self, broadcast_id: int, check: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            shown = await self.progress(broadcast_id)
            if check(shown):
                return shown
            assert time.monotonic() < deadline, f"broadcast never got there: {shown}"
            await asyncio.sleep(0.1)


def runtime_for(db, secret_box, redis, fake, rate: RateLimits) -> TelegramRuntime:
    return TelegramRuntime(
        db,
        secret_box,
        redis,
        RuntimeOptions(
            api_base=fake.base_url, poll_timeout_s=1, rate_limits=rate, sweep_interval_s=0.5
        ),
        workers=shared_course_workers(),
        reconcile_interval_s=0.3,
    )


@pytest.fixture
def rate() -> RateLimits:
    return RateLimits()


@pytest.fixture
def course_source() -> str:
    return COURSE


@pytest.fixture
async def school(
    db, secret_box, service_urls, make_account, rate, course_source
) -> AsyncIterator[School]:
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake:
        runtimes: list[TelegramRuntime] = []
        fake_bot = fake.add_bot()
        bot_id = await add_bot(db, secret_box, account_id, fake_bot)
        version_id = await add_course_version(db, account_id, course_source, "Course")
        deployment_id = await deploy(db, account_id, version_id, bot_id)
        token = await add_token(db, account_id, deployment_id)

        async def start_runtime() -> TelegramRuntime:
            runtime = runtime_for(db, secret_box, redis, fake, rate)
            await runtime.start()
            runtimes.append(runtime)
            await until_hosted(runtime, bot_id)
            return runtime

        try:
            ctx = panel_context(db, secret_box, telegram_api_base=fake.base_url)
            async with panel_client(ctx) as client:
                yield School(
                    Course(account_id, bot_id, fake_bot, deployment_id, token),
                    version_id,
                    client,
                    await user_headers(ctx, owner),
                    owner,
                    fake,
                    runtimes,
                    start_runtime,
                )
        finally:
            for runtime in runtimes:
                await runtime.stop()
            await redis.aclose()


async def seed_students(db: Database, school: School, count: int, **columns: Any) -> list[int]:
    """`count` students with a run of the school's deployment in this state; their chats."""
    chats = [random_telegram_id() for _ in range(count)]
    course = school.course
    async with db.tenant(course.account_id) as session:
        for chat in chats:
            await seeding.run(
                session,
                course.account_id,
                deployment_id=course.deployment_id,
                course_version_id=school.version_id,
                bot_id=course.bot_id,
                chat_id=chat,
                telegram_user_id=chat,
                **columns,
            )
    return chats


async def finish(db: Database, school: School, chats: list[int], status: RunStatus) -> None:
    account_id = school.course.account_id
    async with db.tenant(account_id) as session:
        for run_id in await session.scalars(
            select(Run.id).where(Run.account_id == account_id, Run.chat_id.in_(chats))
        ):
            await seeding.finish_run(session, account_id, run_id, status)


def texts_to(fake: FakeTelegram, chat: int, text: str) -> int:
    return sum(1 for s in fake.sent_to(chat) if s.text == text)


async def test_audiences_pick_the_right_students(school: School, db: Database) -> None:
    account_id = school.course.account_id
    old = datetime.now(UTC) - timedelta(days=3)
    active = await seed_students(db, school, 3, current_element="ask")
    stuck = await seed_students(db, school, 2, current_element="ask")
    async with db.tenant(account_id) as session:
        await session.execute(
            update(Run)
            .where(Run.account_id == account_id, Run.chat_id.in_(stuck))
            .values(updated_at=old)
        )
    finished = await seed_students(db, school, 4)
    await finish(db, school, finished, RunStatus.COMPLETED)
    blocked = await seed_students(db, school, 1)
    await finish(db, school, blocked, RunStatus.BLOCKED)
    from_ads = await seed_students(db, school, 2, current_element="hello", utm={"source": "ads"})

    async def count(**filters: Any) -> int:
        body = {"deployment_id": school.course.deployment_id, **filters}
        got = await school.panel.post(
            f"{school.base}/broadcasts/audience", json=body, headers=school.headers
        )
        assert got.status_code == 200, got.text
        return got.json()["count"]

    assert await count(audience="all") == 3 + 2 + 4 + 2  # the blocked one is left out
    assert await count(audience="active") == 3 + 2 + 2
    assert await count(audience="finished") == 4
    assert await count(audience="stuck") == 2
    assert await count(audience="active", utm_source="ads") == 2
    # "hello" is the first of four elements (0 %), "ask" the second (25 %), finished 100 %.
    assert await count(audience="all", progress_min=20, progress_max=50) == 5
    assert await count(audience="all", progress_min=100) == 4

    await school.start_runtime()
    made = await school.broadcast(audience="stuck", text="We miss you")
    done = await school.until(made["id"], lambda b: b["status"] == "done")
    assert (done["total"], done["sent"], done["queued"]) == (2, 2, 0)
    for chat in active + finished + blocked + from_ads:
        assert texts_to(school.fake, chat, "We miss you") == 0
    for chat in stuck:
        assert texts_to(school.fake, chat, "We miss you") == 1


async def test_each_student_gets_it_once_and_blockers_are_marked(
    school: School, db: Database
) -> None:
    chats = await seed_students(db, school, 40, current_element="ask")
    blockers = chats[:3]
    for chat in blockers:
        school.fake.block_user(school.course.fake_bot, chat)
    await school.start_runtime()

    made = await school.broadcast(
        text="<b>News</b>: lesson 2 is out",
        buttons=[{"text": "Read", "url": "https://example.com/news"}],
    )
    done = await school.until(made["id"], lambda b: b["status"] == "done")

    assert done["total"] == 40
    assert (done["sent"], done["blocked"], done["failed"], done["queued"]) == (37, 3, 0, 0)
    calls = school.fake.calls_of("sendMessage")
    for chat in chats[3:]:
        (sent,) = [s for s in school.fake.sent_to(chat) if s.text == "<b>News</b>: lesson 2 is out"]
        assert sent.buttons[0]["url"] == "https://example.com/news"
        (call,) = [c for c in calls if int(c.params["chat_id"]) == chat]
        assert call.params.get("parse_mode") == "HTML"
    for chat in blockers:  # one try each: a blocked student is not retried
        assert len([c for c in calls if int(c.params["chat_id"]) == chat]) == 1
        run = await _latest(db, school, chat)
        assert run.status == RunStatus.BLOCKED

    # Sending the same audience again reaches the same students again: once each, anew.
    again = await school.broadcast(text="Second")
    second = await school.until(again["id"], lambda b: b["status"] == "done")
    assert second["total"] == 37  # whoever blocked the bot is left out now


async def _latest(db: Database, school: School, chat: int) -> Run:
    account_id = school.course.account_id
    async with db.tenant(account_id) as session:
        run = await session.scalar(
            select(Run).where(Run.account_id == account_id, Run.chat_id == chat)
        )
    assert run is not None
    return run


@pytest.mark.parametrize("rate", [RateLimits(bot_per_second=10.0)])
async def test_a_restart_mid_broadcast_sends_no_one_twice(school: School, db: Database) -> None:
    chats = await seed_students(db, school, 120, current_element="ask")
    first = await school.start_runtime()
    made = await school.broadcast(text="Once only")
    await school.until(made["id"], lambda b: b["sent"] >= 20)
    await first.stop()  # the process goes; posted recipients wait in the inbox and outbox
    halfway = await school.progress(made["id"])
    assert halfway["status"] == "sending" and halfway["sent"] < 120

    await school.start_runtime()
    done = await school.until(made["id"], lambda b: b["status"] == "done", timeout=60)
    assert done["sent"] == 120
    copies = [texts_to(school.fake, chat, "Once only") for chat in chats]
    assert min(copies) == 1, "someone never got it"
    # The outbox's documented window: a message on its way at the stop may go again.
    assert max(copies) <= 2
    async with db.tenant(school.course.account_id) as session:
        recipients = (
            await session.scalars(
                select(BroadcastRecipient.chat_id).where(
                    BroadcastRecipient.broadcast_id == made["id"]
                )
            )
        ).all()
    assert sorted(recipients) == sorted(chats)


@pytest.mark.parametrize("rate", [RateLimits(bot_per_second=5.0)])
async def test_cancel_stops_the_rest(school: School, db: Database) -> None:
    chats = await seed_students(db, school, 80, current_element="ask")
    await school.start_runtime()
    made = await school.broadcast(text="Maybe")
    await school.until(made["id"], lambda b: b["sent"] >= 5)

    cancelled = await school.panel.post(
        f"{school.base}/broadcasts/{made['id']}/cancel", headers=school.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    # What was already handed to the bot (its window) may still go; then nothing more.
    settled = await school.until(made["id"], lambda b: b["queued"] == 0, timeout=30)
    await asyncio.sleep(1.5)
    final = await school.progress(made["id"])
    received = sum(texts_to(school.fake, chat, "Maybe") for chat in chats)
    assert received == final["sent"] == settled["sent"] < 80
    assert final["cancelled"] == 80 - final["sent"]
    again = await school.panel.post(
        f"{school.base}/broadcasts/{made['id']}/cancel", headers=school.headers
    )
    assert again.status_code == 409


@pytest.mark.parametrize("rate", [RateLimits(bot_per_second=10.0)])
async def test_course_replies_go_before_the_broadcast(school: School, db: Database) -> None:
    # Finished students: active ones would fill the plan's seats before the new one comes.
    await finish(db, school, await seed_students(db, school, 150), RunStatus.COMPLETED)
    await school.start_runtime()
    made = await school.broadcast(audience="finished", text="Big news")
    await school.until(made["id"], lambda b: b["sent"] >= 10)

    # 150 messages at 10/s take 15 s; a student starting the course now is answered at once.
    student = random_telegram_id()
    pressed = time.monotonic()
    school.fake.push_start(school.course.fake_bot, student, school.course.payload)
    await school.fake.wait_for_sent(student, 2, timeout=10)
    waited = time.monotonic() - pressed
    school.fake.push_text(school.course.fake_bot, student, "Ann")
    await school.fake.wait_for_sent(student, 4, timeout=10)
    answered = time.monotonic() - pressed - waited
    shown = await school.progress(made["id"])
    assert shown["queued"] > 50, "the broadcast was over: nothing was proven"
    assert waited < 2.0 and answered < 2.0, (waited, answered)


async def test_a_test_goes_to_the_member_who_writes_it(school: School, db: Database) -> None:
    await seed_students(db, school, 2, current_element="ask")
    await school.start_runtime()
    sent = await school.panel.post(
        f"{school.base}/broadcasts/test",
        json={"deployment_id": school.course.deployment_id, "text": "Draft <i>one</i>"},
        headers=school.headers,
    )
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"sent_to": school.owner}
    (message,) = await school.fake.wait_for_sent(school.owner, 1, timeout=10)
    assert message.text == "Draft <i>one</i>"
    listed = await school.panel.get(f"{school.base}/broadcasts", headers=school.headers)
    assert listed.json() == []  # a test is no broadcast


async def test_bad_input_and_other_accounts(
    school: School, db: Database, make_account, secret_box
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    made = await school.broadcast(text="Hi", send_at=tomorrow)
    assert made["status"] == "scheduled"
    other_owner = random_telegram_id()
    other = await make_account(owner_telegram_user_id=other_owner)
    ctx = panel_context(db, secret_box)
    theirs = await user_headers(ctx, other_owner)
    base = f"/api/v1/accounts/{other}/broadcasts"

    stranger = await school.panel.get(f"{base}/{made['id']}", headers=theirs)
    assert stranger.status_code == 404
    cancel = await school.panel.post(f"{base}/{made['id']}/cancel", headers=theirs)
    assert cancel.status_code == 404
    into_ours = await school.panel.post(
        base,
        json={"deployment_id": school.course.deployment_id, "audience": "all", "text": "x"},
        headers=theirs,
    )
    assert into_ours.status_code == 404
    assert "deployment not found" in into_ours.json()["detail"]

    async def refused(body: dict[str, Any]) -> str:
        got = await school.panel.post(
            f"{school.base}/broadcasts", json=body, headers=school.headers
        )
        assert got.status_code == 422, got.text
        return str(got.json()["detail"])

    ours = school.course.deployment_id
    assert "audience" in await refused({"deployment_id": ours, "audience": "everyone", "text": "x"})
    assert "text" in await refused({"deployment_id": ours, "audience": "all", "text": ""})
    assert "whose students" in await refused({"audience": "all", "text": "x"})
    assert "caption" in await refused(
        {
            "deployment_id": ours,
            "audience": "all",
            "text": "x" * 2000,
            "media_url": "https://example.com/a.jpg",
        }
    )
    assert "progress_min" in await refused(
        {
            "deployment_id": ours,
            "audience": "all",
            "text": "x",
            "progress_min": 80,
            "progress_max": 20,
        }
    )


async def test_the_pages_count_test_send_watch_and_cancel(
    school: School, db: Database, secret_box
) -> None:
    await seed_students(db, school, 3, current_element="ask")
    finished = await seed_students(db, school, 2)
    await finish(db, school, finished, RunStatus.COMPLETED)
    base = f"/accounts/{school.course.account_id}/broadcasts"
    form = {
        "deployment_id": str(school.course.deployment_id),
        "audience": "active",
        "text": "Lesson <b>two</b>",
        "button_text": "Open",
        "button_url": "https://example.com/2",
        "continue_button": "on",
        "send_at": (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    ctx = panel_context(db, secret_box, telegram_api_base=school.fake.base_url)
    async with web_browser(ctx, accept_language="ru") as browser:
        await browser.log_in(school.owner)
        page = await browser.get(base)
        assert page.status_code == 200
        assert f'href="{base}"' in page.text  # the navigation leads here
        counted = await browser.post(base, {**form, "action": "count"})
        assert "Сейчас её получат учеников: 3." in text_of(counted.text)
        bad = await browser.post(base, {**form, "button_url": "ftp://x", "action": "send"})
        assert bad.status_code == 422
        assert "нужна ссылка, начинающаяся с https://" in text_of(bad.text)

        await school.start_runtime()
        tested = await browser.post(base, {**form, "action": "test"})
        assert "Отправлено вам" in text_of(tested.text)
        (message,) = await school.fake.wait_for_sent(school.owner, 1, timeout=10)
        assert message.text == "Lesson <b>two</b>"
        # The test shows the "continue the course" button too (the member's bot language).
        assert [b["text"] for b in message.buttons] == ["Open", "Продолжить курс"]
        assert 'name="continue_button" checked' in tested.text

        made = await browser.post(base, {**form, "action": "send"})
        assert made.status_code == 303
        detail = await browser.get(made.headers["location"])
        assert "Запланирована" in text_of(detail.text)
        assert "С кнопкой «Продолжить курс»." in text_of(detail.text)
        assert 'http-equiv="refresh"' in detail.text  # live while it is not over
        path = made.headers["location"].partition("?")[0]
        cancelled = await browser.post(f"{path}/cancel", {}, follow=True)
        assert "Рассылка отменена" in text_of(cancelled.text)
        assert 'http-equiv="refresh"' not in cancelled.text


async def test_a_scheduled_broadcast_waits_for_its_time(school: School, db: Database) -> None:
    chats = await seed_students(db, school, 2, current_element="ask")
    await school.start_runtime()
    due = datetime.now(UTC) + timedelta(seconds=3)
    made = await school.broadcast(text="Later", send_at=due.isoformat())
    assert made["status"] == "scheduled"
    await asyncio.sleep(1.5)
    assert (await school.progress(made["id"]))["status"] == "scheduled"
    assert all(texts_to(school.fake, chat, "Later") == 0 for chat in chats)

    done = await school.until(made["id"], lambda b: b["status"] == "done")
    assert done["sent"] == 2
    assert [texts_to(school.fake, chat, "Later") for chat in chats] == [1, 1]
    assert datetime.fromisoformat(done["finished_at"]) >= due


async def test_a_broadcast_names_each_student_safely(school: School, db: Database) -> None:
    """{first_name} is the student's own, from their run or, once they finished, from what
    the school knows of them; a name that looks like markup is shown as written."""
    account_id = school.course.account_id
    learning, done = random_telegram_id(), random_telegram_id()
    course = school.course
    async with db.tenant(account_id) as session:
        for chat, name in ((learning, "<b>Ann</b>"), (done, "Boris")):
            student = await seeding.participant(
                session, account_id, telegram_user_id=chat, first_name=name
            )
            await seeding.run(
                session,
                account_id,
                deployment_id=course.deployment_id,
                course_version_id=school.version_id,
                bot_id=course.bot_id,
                chat_id=chat,
                telegram_user_id=chat,
                participant_id=student.id,
            )
    await finish(db, school, [done], RunStatus.COMPLETED)
    await school.start_runtime()

    made = await school.broadcast(text="Hi {first_name}, lesson 3 is out")
    await school.until(made["id"], lambda b: b["status"] == "done")

    assert texts_to(school.fake, learning, "Hi &lt;b&gt;Ann&lt;/b&gt;, lesson 3 is out") == 1
    assert texts_to(school.fake, done, "Hi Boris, lesson 3 is out") == 1


RESUMABLE = """
hello:
  type: message
  text: Welcome to the course
  button: Go
capital:
  type: quiz
  text: Capital of France?
  answers:
    - text: Lyon
      feedback: No, Paris.
    - text: Paris
      correct: yes
      feedback: Right.
ask:
  type: input
  text: What is your name?
thanks:
  type: message
  text: Thank you!
pause:
  type: delay
  text: See you tomorrow
  wait: 1d
last:
  type: message
  text: Goodbye
"""


@pytest.mark.parametrize("course_source", [RESUMABLE])
async def test_continue_the_course_brings_a_student_back_to_their_question(
    school: School, db: Database
) -> None:
    await school.start_runtime()
    pressing = await _to_the_quiz(school, "en")
    control = await _to_the_quiz(school, "en")  # gets the broadcast too, never presses
    done = await _finished_student(db, school, "ru")

    made = await school.broadcast(
        text="Lesson 2 is out",
        buttons=[{"text": "Read", "url": "https://example.com/2"}],
        continue_button=True,
    )
    assert made["continue_button"] is True
    await school.until(made["id"], lambda b: b["status"] == "done")
    news = {}
    for chat, label in (
        (pressing, "Continue the course"),
        (control, "Continue the course"),
        (done, "Продолжить курс"),  # each in the student's language
    ):
        (news[chat.student],) = [s for s in chat.sent() if s.text == "Lesson 2 is out"]
        buttons = news[chat.student].buttons
        assert [b["text"] for b in buttons] == ["Read", label]  # after the link
        assert buttons[0]["url"] == "https://example.com/2"

    # The quiz comes again, as it came first; score, answers and place stay as they were.
    before = run_state(await _run(db, school, pressing.student))
    (again,) = await pressing.press(news[pressing.student], "Continue the course")
    first = next(s for s in pressing.sent() if s.poll)
    assert again.poll is not None and again.text == "Capital of France?"
    assert again.poll["options"] == first.poll["options"] and again.poll["type"] == "quiz"
    assert run_state(await _run(db, school, pressing.student)).answers == before.answers
    # Every press is acknowledged: "Go" twice, then this one.
    answered = school.fake.calls_of("answerCallbackQuery", school.course.fake_bot)
    assert [c.status for c in answered] == [200, 200, 200]

    # From the next answer on, both students go exactly the same way.
    for chat in (pressing, control):
        quiz = [s for s in chat.sent() if s.poll][-1]
        assert [s.text for s in await chat.vote(quiz, 1, 2)] == ["Right.", "What is your name?"]
        assert [s.text for s in await chat.type("Ann", 2)] == ["Thank you!", "See you tomorrow"]
    course_texts = [
        "Welcome to the course",
        "Capital of France?",
        "Right.",
        "What is your name?",
        "Thank you!",
        "See you tomorrow",
    ]
    assert _course_texts(control) == course_texts
    assert _course_texts(pressing) == [*course_texts[:2], *course_texts[1:]]
    ran = run_state(await _run(db, school, pressing.student))
    assert ran.answers == run_state(await _run(db, school, control.student)).answers
    assert (ran.current, ran.answers["capital"].score) == ("pause", 1.0)

    # At the pause the next part comes by itself: the student is told so, nothing moves.
    (notice,) = await pressing.press(news[pressing.student], "Continue the course")
    assert notice.text == "We will go on a little later: I will write when it is time."
    assert run_state(await _run(db, school, pressing.student)) == ran

    # A student who finished is told there is no course in progress, in their language.
    (told,) = await done.press(news[done.student], "Продолжить курс")
    assert told.text == notice_text(Notice.NOTHING_TO_CONTINUE, "ru")
    assert (
        await active_run(db, school.course.account_id, school.course.bot_id, done.student) is None
    )


class Chat:
    """One student of the school's bot, as they see the chat."""

    def __init__(self, school: School, student: int) -> None:
        self.fake, self.bot, self.student = school.fake, school.course.fake_bot, student

    def sent(self) -> list[Sent]:
        return self.fake.sent_to(self.student, self.bot)

    async def after(self, act: Callable[[], object], count: int = 1) -> list[Sent]:
        """Do `act`; the messages the bot sends after it (`count` at least)."""
        seen = len(self.sent())
        act()
        await self.fake.wait_for_sent(self.student, seen + count, bot=self.bot, timeout=15)
        await quiet(self.fake, self.student)
        return self.sent()[seen:]

    async def press(self, message: Sent, text: str) -> list[Sent]:
        (button,) = [b for b in message.buttons if b["text"] == text]
        data = button["callback_data"]
        return await self.after(
            lambda: self.fake.press_button(self.bot, self.student, message, data)
        )

    async def vote(self, poll: Sent, option: int, count: int) -> list[Sent]:
        assert poll.poll is not None
        poll_id = poll.poll["id"]
        return await self.after(
            lambda: self.fake.answer_poll(self.bot, self.student, poll_id, [option]), count
        )

    async def type(self, text: str, count: int) -> list[Sent]:
        return await self.after(lambda: self.fake.push_text(self.bot, self.student, text), count)


async def _to_the_quiz(school: School, language: str) -> Chat:
    chat = Chat(school, random_telegram_id())
    school.fake.add_user(chat.student, language_code=language)
    payload = school.course.payload
    (welcome,) = await chat.after(lambda: school.fake.push_start(chat.bot, chat.student, payload))
    (quiz,) = await chat.press(welcome, "Go")
    assert quiz.poll is not None and quiz.text == "Capital of France?"
    return chat


async def _finished_student(db: Database, school: School, language: str) -> Chat:
    chat = Chat(school, random_telegram_id())
    school.fake.add_user(chat.student, language_code=language)
    course = school.course
    async with db.tenant(course.account_id) as session:
        student = await seeding.participant(
            session, course.account_id, telegram_user_id=chat.student, language_code=language
        )
        await seeding.run(
            session,
            course.account_id,
            deployment_id=course.deployment_id,
            course_version_id=school.version_id,
            bot_id=course.bot_id,
            chat_id=chat.student,
            telegram_user_id=chat.student,
            participant_id=student.id,
        )
    await finish(db, school, [chat.student], RunStatus.COMPLETED)
    return chat


async def _run(db: Database, school: School, chat: int) -> Run:
    run = await active_run(db, school.course.account_id, school.course.bot_id, chat)
    assert run is not None
    return run


def _course_texts(chat: Chat) -> list[str | None]:
    """What the course said (the broadcast left out)."""
    return [s.text for s in chat.sent() if s.text != "Lesson 2 is out"]
