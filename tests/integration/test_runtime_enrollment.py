"""The `/start` rules as a student meets them: the real runtime over HTTP against the fake Bot
API, real PostgreSQL and Redis. Each test checks what the student reads (the exact text from
`student_texts`) and what the database holds afterwards (runs, token uses)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from botapi.deeplink import build_start_payload
from runtime.student_texts import Notice, notice_text
from storage.crypto import Secret
from storage.models import EnrollmentToken, ProcessedUpdate, Run
from storage.repositories import bans, bots, deployments, tokens
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import Call, FakeBot, FakeTelegram
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

pytestmark = pytest.mark.integration

# How fast the pool must follow a bot row changed in the panel (DESIGN §5: "within seconds").
POOL_REACTION_S = 5.0
POLL_TIMEOUT_S = 1


def ru(notice: Notice) -> str:
    return notice_text(notice, "ru")


def course_source(title: str) -> str:
    """Two steps, each waiting for a button: a run stays put until the student taps."""
    return (
        "intro:\n"
        "  type: message\n"
        f"  text: '{title}: welcome'\n"
        "  button: Go\n"
        "second:\n"
        "  type: message\n"
        f"  text: '{title}: second step'\n"
        "  button: Next\n"
    )


def welcome(title: str) -> str:
    return f"{title}: welcome"


# ---- the stack -----------------------------------------------------------------------------


@dataclass
class Stack:
    fake: FakeTelegram
    runtime: TelegramRuntime
    clock: ShiftableClock


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
            poll_timeout_s=POLL_TIMEOUT_S,
            rate_limits=RateLimits(chat_per_second=200.0, bot_per_second=500.0),
            sweep_interval_s=0.5,
        ),
        workers=shared_course_workers(),
        clock=clock,
        reconcile_interval_s=0.3,
    )
    await runtime.start()
    try:
        yield Stack(fake, runtime, clock)
    finally:
        await runtime.stop()


_next_user = iter(range(6_000_000, 7_000_000))


def new_user() -> int:
    return next(_next_user)


@dataclass
class School:
    """An account with one hosted bot."""

    account_id: int
    bot_id: int
    fake_bot: FakeBot


@dataclass(frozen=True)
class Link:
    token_id: int
    deployment_id: int
    token: str

    @property
    def payload(self) -> str:
        return build_start_payload(self.deployment_id, self.token)


async def open_school(stack: Stack, db, secret_box, make_account) -> School:
    account_id = await make_account()
    fake_bot = stack.fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    # Setup, not the rule under test: a loaded machine may take longer than POOL_REACTION_S.
    await wait_until(
        lambda: stack.runtime.pool.get(bot_id) is not None, timeout=20.0, what="bot hosted"
    )
    return School(account_id, bot_id, fake_bot)


async def add_course(db, school: School, title: str, **deploy_options: object) -> int:
    """Deploy a two-step course titled `title` on the school's bot: its deployment id."""
    version_id = await add_course_version(db, school.account_id, course_source(title), title)
    return await deploy(db, school.account_id, version_id, school.bot_id, **deploy_options)


async def add_link(
    db, school: School, deployment_id: int, kind: str = "public", **options: object
) -> Link:
    async with db.tenant(school.account_id) as session:
        row = await tokens.create(
            session,
            school.account_id,
            deployment_id=deployment_id,
            kind=kind,
            **options,  # type: ignore[arg-type]
        )
        return Link(row.id, deployment_id, row.token)


async def token_row(db, school: School, link: Link) -> EnrollmentToken:
    async with db.tenant(school.account_id) as session:
        row = await tokens.get(session, school.account_id, link.token_id)
        assert row is not None
        return row


async def runs_in_chat(db, school: School, chat_id: int) -> list[Run]:
    async with db.tenant(school.account_id) as session:
        rows = await session.scalars(
            select(Run)
            .where(Run.account_id == school.account_id, Run.chat_id == chat_id)
            .order_by(Run.id)
        )
        return list(rows)


async def wait_until(condition, *, timeout: float = POOL_REACTION_S, what: str) -> float:
    """Poll a (sync or async) condition; the seconds it took."""
    started = time.monotonic()
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.05)


async def texts_after(
    stack: Stack, school: School, user: int, *, before: int = 0, count: int = 1
) -> list[str | None]:
    """What the bot sent to the student after the first `before` messages, once at least
    `count` new ones arrived and the chat went quiet."""
    await stack.fake.wait_for_sent(user, before + count, bot=school.fake_bot, timeout=10.0)
    await quiet(stack.fake, user)
    return [s.text for s in stack.fake.sent_to(user, school.fake_bot)[before:]]


async def start(stack: Stack, school: School, user: int, payload: str | None) -> list[str | None]:
    """The student opens the link (or presses Start): everything the bot answered."""
    before = len(stack.fake.sent_to(user, school.fake_bot))
    stack.fake.push_start(school.fake_bot, user, payload)
    return await texts_after(stack, school, user, before=before)


# ---- tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "notice"),
    [
        ("revoked", Notice.TOKEN_REVOKED),
        ("expired", Notice.TOKEN_EXPIRED),
        ("someone_elses", Notice.TOKEN_NOT_YOURS),
    ],
)
async def test_unusable_token_gets_its_own_message_and_counts_nothing(
    stack, db, secret_box, make_account, case, notice
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    user, owner = new_user(), new_user()
    if case == "revoked":
        link = await add_link(db, school, deployment_id)
        async with db.tenant(school.account_id) as session:
            assert await tokens.revoke(session, school.account_id, link.token_id)
    elif case == "expired":
        past = datetime.now(UTC) - timedelta(minutes=1)
        link = await add_link(db, school, deployment_id, expires_at=past)
    else:
        link = await add_link(db, school, deployment_id, "personal", bound_telegram_user_id=owner)

    assert await start(stack, school, user, link.payload) == [ru(notice)]
    assert await runs_in_chat(db, school, user) == []
    assert (await token_row(db, school, link)).uses == 0


async def test_refusals_speak_the_students_language(stack, db, secret_box, make_account):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    link = await add_link(db, school, deployment_id, expires_at=datetime.now(UTC))
    user = new_user()
    stack.fake.add_user(user, "Ann", language_code="en-GB")
    assert await start(stack, school, user, link.payload) == [
        notice_text(Notice.TOKEN_EXPIRED, "en")
    ]
    assert await runs_in_chat(db, school, user) == []


async def test_personal_token_bound_to_the_student_starts_their_course(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    user = new_user()
    link = await add_link(db, school, deployment_id, "personal", bound_telegram_user_id=user)
    assert await start(stack, school, user, link.payload) == [welcome("Alpha")]
    (run,) = await runs_in_chat(db, school, user)
    assert (run.status, run.token_id) == ("active", link.token_id)
    assert (await token_row(db, school, link)).uses == 1


async def test_single_use_personal_token_used_twice_admits_only_the_first(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    link = await add_link(db, school, deployment_id, "personal", max_uses=1)
    first, second = new_user(), new_user()

    assert await start(stack, school, first, link.payload) == [welcome("Alpha")]
    assert await start(stack, school, second, link.payload) == [ru(Notice.TOKEN_EXHAUSTED)]

    (run,) = await runs_in_chat(db, school, first)
    assert (run.status, run.token_id) == ("active", link.token_id)
    assert await runs_in_chat(db, school, second) == []
    assert (await token_row(db, school, link)).uses == 1


# ---- deployment, bans, allow-list ----------------------------------------------------------


async def test_deactivated_deployment_says_the_course_is_unavailable(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    link = await add_link(db, school, deployment_id)
    async with db.tenant(school.account_id) as session:
        await deployments.update_deployment(session, school.account_id, deployment_id, active=False)
    user = new_user()
    assert await start(stack, school, user, link.payload) == [ru(Notice.COURSE_UNAVAILABLE)]
    assert await runs_in_chat(db, school, user) == []
    assert (await token_row(db, school, link)).uses == 0


@pytest.mark.parametrize("scope", ["this bot", "whole account"])
async def test_banned_student_is_refused_and_starts_once_unbanned(
    stack, db, secret_box, make_account, scope
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    link = await add_link(db, school, deployment_id)
    user = new_user()
    ban_bot = school.bot_id if scope == "this bot" else None
    async with db.tenant(school.account_id) as session:
        await bans.ban(session, school.account_id, telegram_user_id=user, bot_id=ban_bot)

    assert await start(stack, school, user, link.payload) == [ru(Notice.BANNED)]
    assert await runs_in_chat(db, school, user) == []
    assert (await token_row(db, school, link)).uses == 0

    async with db.tenant(school.account_id) as session:
        (ban,) = [
            b
            for b in await bans.list_banned(session, school.account_id)
            if b.telegram_user_id == user
        ]
        await session.delete(ban)  # as the panel's unban does, by the ban's row
    assert await start(stack, school, user, link.payload) == [welcome("Alpha")]
    (run,) = await runs_in_chat(db, school, user)
    assert run.status == "active" and run_position(run) == "intro"
    assert (await token_row(db, school, link)).uses == 1


async def test_restricted_deployment_declines_strangers_and_admits_listed_students(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    decline = "Этот курс только для группы 7Б. Напишите куратору, чтобы вас добавили."
    deployment_id = await add_course(db, school, "Alpha", restricted=True, decline_text=decline)
    link = await add_link(db, school, deployment_id)
    stranger, by_id, by_name = new_user(), new_user(), new_user()
    stack.fake.add_user(by_name, "Ivan", username="Invited_Student")
    async with db.tenant(school.account_id) as session:
        await bans.allow(
            session, school.account_id, deployment_id=deployment_id, telegram_user_id=by_id
        )
        await bans.allow(
            session, school.account_id, deployment_id=deployment_id, username="@invited_student"
        )

    assert await start(stack, school, stranger, link.payload) == [decline]
    assert await runs_in_chat(db, school, stranger) == []
    assert (await token_row(db, school, link)).uses == 0

    for listed in (by_id, by_name):
        assert await start(stack, school, listed, link.payload) == [welcome("Alpha")]
        (run,) = await runs_in_chat(db, school, listed)
        assert (run.status, run.deployment_id) == ("active", deployment_id)
    assert (await token_row(db, school, link)).uses == 2


async def test_restricted_deployment_without_decline_text_uses_the_default_notice(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha", restricted=True)
    link = await add_link(db, school, deployment_id)
    user = new_user()
    assert await start(stack, school, user, link.payload) == [ru(Notice.NOT_ALLOWED)]
    assert await runs_in_chat(db, school, user) == []


# ---- one active run per (bot, chat) --------------------------------------------------------


async def test_start_of_the_running_course_says_carry_on_and_counts_nothing(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    link = await add_link(db, school, deployment_id)
    other_link = await add_link(db, school, deployment_id, "group", max_uses=3)
    user = new_user()
    assert await start(stack, school, user, link.payload) == [welcome("Alpha")]
    (run,) = await runs_in_chat(db, school, user)

    # The same link again, and another link of the same deployment: both mean "carry on".
    for payload in (link.payload, other_link.payload):
        assert await start(stack, school, user, payload) == [ru(Notice.ALREADY_RUNNING)]

    (again,) = await runs_in_chat(db, school, user)
    assert (again.id, again.status, again.state) == (run.id, "active", run.state)
    assert (await token_row(db, school, link)).uses == 1
    assert (await token_row(db, school, other_link)).uses == 0


async def test_start_of_another_deployment_stops_the_old_run_and_starts_the_new(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    alpha = await add_link(db, school, await add_course(db, school, "Alpha"))
    beta = await add_link(db, school, await add_course(db, school, "Beta"))
    user = new_user()
    assert await start(stack, school, user, alpha.payload) == [welcome("Alpha")]

    before = len(stack.fake.sent_to(user, school.fake_bot))
    stack.fake.push_start(school.fake_bot, user, beta.payload)
    assert await texts_after(stack, school, user, before=before, count=2) == [
        ru(Notice.PREVIOUS_RUN_ENDED),
        welcome("Beta"),
    ]

    old, new = await runs_in_chat(db, school, user)
    assert (old.deployment_id, old.status, old.is_active) == (alpha.deployment_id, "stopped", False)
    assert old.finished_at is not None
    assert (new.deployment_id, new.status, new.token_id) == (
        beta.deployment_id,
        "active",
        beta.token_id,
    )
    current = await active_run(db, school.account_id, school.bot_id, user)
    assert current is not None and current.id == new.id
    assert (await token_row(db, school, alpha)).uses == 1
    assert (await token_row(db, school, beta)).uses == 1


async def test_refused_link_to_another_course_keeps_the_run_the_student_has(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    alpha = await add_link(db, school, await add_course(db, school, "Alpha"))
    beta = await add_link(db, school, await add_course(db, school, "Beta"))
    async with db.tenant(school.account_id) as session:
        await tokens.revoke(session, school.account_id, beta.token_id)
    user = new_user()
    assert await start(stack, school, user, alpha.payload) == [welcome("Alpha")]
    (run,) = await runs_in_chat(db, school, user)

    assert await start(stack, school, user, beta.payload) == [ru(Notice.TOKEN_REVOKED)]
    (still,) = await runs_in_chat(db, school, user)
    assert (still.id, still.status, still.state) == (run.id, "active", run.state)
    assert (await token_row(db, school, beta)).uses == 0


# ---- plain /start and the bot's default deployment -----------------------------------------


async def test_plain_start_without_a_default_course_answers_politely(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    await add_course(db, school, "Alpha")
    user = new_user()
    assert await start(stack, school, user, None) == [ru(Notice.NO_DEFAULT_COURSE)]
    assert await runs_in_chat(db, school, user) == []


async def test_plain_start_starts_the_bots_default_deployment(stack, db, secret_box, make_account):
    school = await open_school(stack, db, secret_box, make_account)
    await add_course(db, school, "Alpha")
    default_id = await add_course(db, school, "Beta")
    async with db.tenant(school.account_id) as session:
        await bots.update_bot(
            session, school.account_id, school.bot_id, default_deployment_id=default_id
        )

    def hosts_default() -> bool:
        hosted = stack.runtime.pool.get(school.bot_id)
        return hosted is not None and hosted.hosted.default_deployment_id == default_id

    await wait_until(hosts_default, what="the pool picked up the default deployment")
    user = new_user()
    assert await start(stack, school, user, None) == [welcome("Beta")]
    (run,) = await runs_in_chat(db, school, user)
    assert (run.deployment_id, run.status, run.token_id) == (default_id, "active", None)
    assert run.utm_source is None and run.utm_campaign is None


async def test_plain_start_mid_course_says_carry_on_and_keeps_the_run(
    stack, db, secret_box, make_account
):
    """Only a deep link switches courses: a bare /start, with or without a default course,
    must not cost the student their progress."""
    school = await open_school(stack, db, secret_box, make_account)
    alpha = await add_link(db, school, await add_course(db, school, "Alpha"))
    default_id = await add_course(db, school, "Beta")
    user = new_user()
    assert await start(stack, school, user, alpha.payload) == [welcome("Alpha")]
    (run,) = await runs_in_chat(db, school, user)

    assert await start(stack, school, user, None) == [ru(Notice.ALREADY_RUNNING)]
    async with db.tenant(school.account_id) as session:
        await bots.update_bot(
            session, school.account_id, school.bot_id, default_deployment_id=default_id
        )

    def hosts_default() -> bool:
        hosted = stack.runtime.pool.get(school.bot_id)
        return hosted is not None and hosted.hosted.default_deployment_id == default_id

    await wait_until(hosts_default, what="the pool picked up the default deployment")
    assert await start(stack, school, user, None) == [ru(Notice.ALREADY_RUNNING)]
    (still,) = await runs_in_chat(db, school, user)
    assert (still.id, still.deployment_id, still.status, still.state) == (
        run.id,
        alpha.deployment_id,
        "active",
        run.state,
    )


# ---- what the run records ------------------------------------------------------------------


async def test_run_records_the_token_and_its_utm_labels(stack, db, secret_box, make_account):
    school = await open_school(stack, db, secret_box, make_account)
    deployment_id = await add_course(db, school, "Alpha")
    utm = {
        "source": "vk",
        "medium": "cpc",
        "campaign": "spring_intake",
        "content": "banner-2",
        "term": "ielts",
    }
    tagged = await add_link(db, school, deployment_id, "group", max_uses=10, utm=utm)
    plain = await add_link(db, school, deployment_id)
    tagged_user, plain_user = new_user(), new_user()
    assert await start(stack, school, tagged_user, tagged.payload) == [welcome("Alpha")]
    assert await start(stack, school, plain_user, plain.payload) == [welcome("Alpha")]

    (run,) = await runs_in_chat(db, school, tagged_user)
    assert run.token_id == tagged.token_id
    assert {key: getattr(run, f"utm_{key}") for key in utm} == utm
    (untagged,) = await runs_in_chat(db, school, plain_user)
    assert untagged.token_id == plain.token_id
    assert all(getattr(untagged, f"utm_{key}") is None for key in utm)


# ---- the pool follows the bot row ----------------------------------------------------------


async def test_disabled_bot_stops_polling_and_answers_again_once_re_enabled(
    stack, db, secret_box, make_account
):
    school = await open_school(stack, db, secret_box, make_account)
    link = await add_link(db, school, await add_course(db, school, "Alpha"))
    assert await start(stack, school, new_user(), link.payload) == [welcome("Alpha")]

    async with db.tenant(school.account_id) as session:
        await bots.update_bot(session, school.account_id, school.bot_id, active=False)
    disabled_at = time.monotonic()
    await wait_until(
        lambda: stack.runtime.pool.get(school.bot_id) is None, what="disabled bot stopped"
    )
    # A long poll already open when the bot stopped may still be seen; no new one may start.
    await asyncio.sleep(0.3)
    polls = len(stack.fake.calls_of("getUpdates", school.fake_bot))
    assert all(
        c.time < disabled_at + POOL_REACTION_S
        for c in stack.fake.calls_of("getUpdates", school.fake_bot)
    )
    late = new_user()
    stack.fake.push_start(school.fake_bot, late, link.payload)
    await asyncio.sleep(3 * POLL_TIMEOUT_S)  # a polling bot would have asked three times
    assert len(stack.fake.calls_of("getUpdates", school.fake_bot)) == polls
    assert stack.fake.sent_to(late, school.fake_bot) == []
    assert await runs_in_chat(db, school, late) == []

    async with db.tenant(school.account_id) as session:
        await bots.update_bot(session, school.account_id, school.bot_id, active=True)
    enabled_at = time.monotonic()
    # The /start that waited at Telegram meanwhile is answered, and so is a new one.
    fresh = new_user()
    stack.fake.push_start(school.fake_bot, fresh, link.payload)
    for user in (late, fresh):
        await stack.fake.wait_for_sent(user, bot=school.fake_bot, timeout=POOL_REACTION_S)
    assert time.monotonic() - enabled_at < POOL_REACTION_S
    for user in (late, fresh):
        assert [s.text for s in stack.fake.sent_to(user, school.fake_bot)] == [welcome("Alpha")]
        (run,) = await runs_in_chat(db, school, user)
        assert run.status == "active"


async def test_rotated_token_is_picked_up_without_restart(stack, db, secret_box, make_account):
    school = await open_school(stack, db, secret_box, make_account)
    link = await add_link(db, school, await add_course(db, school, "Alpha"))
    assert await start(stack, school, new_user(), link.payload) == [welcome("Alpha")]

    # BotFather /revoke: the old token is dead at Telegram, the panel has not caught up yet.
    rotated = stack.fake.rotate_token(school.fake_bot)
    waiting_user = new_user()
    stack.fake.push_start(rotated, waiting_user, link.payload)
    await asyncio.sleep(2 * POLL_TIMEOUT_S)
    assert stack.fake.sent_to(waiting_user, rotated) == []

    async with db.tenant(school.account_id) as session:
        await bots.replace_token(
            session,
            school.account_id,
            school.bot_id,
            token=Secret(rotated.token),
            box=secret_box,
        )
    saved_at = time.monotonic()
    await stack.fake.wait_for_sent(waiting_user, bot=rotated, timeout=POOL_REACTION_S)
    assert time.monotonic() - saved_at < POOL_REACTION_S
    assert [s.text for s in stack.fake.sent_to(waiting_user, rotated)] == [welcome("Alpha")]
    hosted = stack.runtime.pool.get(school.bot_id)
    assert hosted is not None and hosted.config.token == rotated.token


# ---- forged callback queries ---------------------------------------------------------------


async def test_forged_callback_queries_change_nothing(stack, db, secret_box, make_account):
    school = await open_school(stack, db, secret_box, make_account)
    link = await add_link(db, school, await add_course(db, school, "Alpha"))
    user = new_user()
    assert await start(stack, school, user, link.payload) == [welcome("Alpha")]
    run = await active_run(db, school.account_id, school.bot_id, user)
    assert run is not None and run_position(run) == "intro"
    (shown,) = stack.fake.sent_to(user, school.fake_bot)
    (real,) = shown.buttons
    seq = run_state(run).seq
    assert real["callback_data"] == f"{seq}:0"

    forged = [
        f"{seq}:7",  # a button the element does not have
        f"{seq + 1}:0",  # the button of the next step, which the student is not on yet
        f"{seq - 1}:0",  # a step the student has left
        "999999999:0",
        "garbage",
        "1:0:0",
        "-1:0",
        "'; DROP TABLE run; --",
        "\u202e0:0",
    ]
    for data in forged:
        stack.fake.press_forged_button(school.fake_bot, user, shown, data)
    await stack.fake.wait_for(
        lambda: len(_answered_callbacks(stack.fake, school.fake_bot)) >= len(forged), 10.0
    )
    await quiet(stack.fake, user)

    assert stack.fake.sent_to(user, school.fake_bot) == [shown], "nothing was sent"
    after = await active_run(db, school.account_id, school.bot_id, user)
    assert after is not None and (after.id, after.state) == (run.id, run.state)
    assert await _failed_updates(db, school) == [], "no forged update crashed its handler"

    # The real button still works: the forged ones were refused, not the chat wedged.
    stack.fake.press_button(school.fake_bot, user, shown, real["callback_data"])
    assert await texts_after(stack, school, user, before=1) == ["Alpha: second step"]
    moved = await active_run(db, school.account_id, school.bot_id, user)
    assert moved is not None and run_position(moved) == "second"


def _answered_callbacks(fake: FakeTelegram, bot: FakeBot) -> list[Call]:
    return [c for c in fake.calls_of("answerCallbackQuery", bot) if c.status == 200]


async def _failed_updates(db, school: School) -> list[str]:
    async with db.tenant(school.account_id) as session:
        rows = await session.scalars(
            select(ProcessedUpdate.error).where(
                ProcessedUpdate.account_id == school.account_id,
                ProcessedUpdate.bot_id == school.bot_id,
                ProcessedUpdate.error.is_not(None),
            )
        )
        return list(rows)
