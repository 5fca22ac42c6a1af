"""`coursebot import-profochatbot` on an old installation built from the documented schema
(tests/fixtures/profochatbot/*.sql, one database per test on the test server): what moves,
that a second run adds nothing, that a dry run keeps nothing, and that students go on where
the old bot left them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from courses import jobs
from engine.events import Text, TimerFired
from engine.state import RunState
from engine.step import step
from legacy_import.cli import import_main
from legacy_import.importer import ImportOptions, import_snapshot
from legacy_import.legacy_db import read_snapshot
from legacy_import.summary import Summary
from runtime.scheduler import TimerScheduler
from storage import system
from storage.config import Settings
from storage.crypto import Secret
from storage.models import (
    Banned,
    Bot,
    Conversation,
    Course,
    CourseDeployment,
    CourseElement,
    CourseVersion,
    Participant,
    Restricted,
    Run,
    Waiting,
)
from storage.repositories import bots, conversation, courses, runs
from tests.integration.conftest import (
    create_database,
    database_url,
    drop_database,
    process_settings,
    random_name,
    random_telegram_id,
)
from tests.integration.inbox_support import apply_inbox_events

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures" / "profochatbot"
MOSCOW = ZoneInfo("Europe/Moscow")
IMPORTED_AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(1961, 1, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Legacy:
    dsn: str  # a plain postgresql:// URL, as an operator passes it to --from
    shape: str
    token: Secret  # the school bot's token: in the SaaS database, or given on the command line

    @property
    def command_line_tokens(self) -> dict[str | None, Secret]:
        return {None: self.token} if self.shape == "monolith" else {}


@pytest.fixture(params=["monolith", "saas"])
async def legacy(request, service_urls) -> AsyncIterator[Legacy]:
    """An old ProfoChatBot database in one of its two shapes."""
    name = random_name("profochatbot")
    await create_database(service_urls.database_url, name)
    dsn = (
        make_url(database_url(service_urls.database_url, name))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    token = bot_token()
    sql = (FIXTURES / f"{request.param}.sql").read_text()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql.replace("__SCHOOL_BOT_TOKEN__", token.reveal()))
        finally:
            await conn.close()
        yield Legacy(dsn, request.param, token)
    finally:
        await drop_database(service_urls.database_url, name)


@pytest.fixture
async def account(db) -> tuple[int, str]:
    slug = random_name("school").replace("_", "-")
    async with db.system() as session:
        row = await system.create_account(session, slug=slug, name="Old school", plan="free")
    return row.id, slug


def bot_token() -> Secret:
    return Secret(f"{random_telegram_id()}:AA{secrets.token_urlsafe(26)}")


async def run_import(db, secret_box, legacy: Legacy, slug: str, *, dry_run=False) -> Summary:
    snapshot = await read_snapshot(legacy.dsn)
    assert snapshot.shape == legacy.shape
    options = ImportOptions(
        account_slug=slug,
        timezone=MOSCOW,
        bot_tokens=legacy.command_line_tokens,
        dry_run=dry_run,
    )
    return await import_snapshot(db, secret_box, snapshot, options, IMPORTED_AT)


def counts(summary: Summary) -> dict[str, tuple[int, int, int]]:
    return {k.strip(): (t.imported, t.existing, t.unmapped) for k, t in summary.tallies.items()}


async def table_counts(db, account_id: int) -> dict[str, int]:
    async with db.tenant(account_id) as session:
        return {
            model.__tablename__: await session.scalar(
                select(func.count()).select_from(model).where(model.account_id == account_id)
            )
            for model in (
                Bot,
                Course,
                CourseDeployment,
                Participant,
                Run,
                Conversation,
                Waiting,
                Banned,
            )
        } | {
            "restricted": await session.scalar(
                select(func.count())
                .select_from(Restricted)
                .where(Restricted.account_id == account_id)
            )
        }


async def runs_by_chat(db, account_id: int) -> dict[int, list[Run]]:
    async with db.tenant(account_id) as session:
        rows = (
            await session.scalars(
                select(Run).where(Run.account_id == account_id).order_by(Run.started_at)
            )
        ).all()
    found: dict[int, list[Run]] = {}
    for row in rows:
        found.setdefault(row.chat_id, []).append(row)
    return found


async def test_the_fixture_installation_moves_over_and_unmappable_rows_are_reported(
    db, secret_box, legacy, account
):
    account_id, slug = account
    token = legacy.token

    summary = await run_import(db, secret_box, legacy, slug)

    assert counts(summary) == {
        # The SaaS migration made helper_bot a placeholder token: it cannot be connected.
        "bots": (1, 0, 0 if legacy.shape == "monolith" else 1),
        "courses": (3, 0, 1),  # "broken" does not load
        "deployments": (3, 0, 1),
        "runs": (6, 0, 1),  # the run in "broken"
        "active": (4, 0, 0),
        "completed": (1, 0, 0),
        "stopped": (1, 0, 0),  # 1002's older run, left behind by the newer one
        "conversation lines": (18, 0, 1),
        "pending delays": (1, 0, 0),
        "prompts to re-send": (1, 0, 0),  # 1004 stands at a button
        "bans": (1, 0, 0),  # 1008 was excluded from the ban
        "allow-list entries": (2, 0, 0),
    }
    assert any("course broken: does not load" in p for p in summary.problems)
    assert any("run 7 (chat 1006)" in p for p in summary.problems)
    table = summary.table()
    assert "conversation lines" in table and "Not mapped" in table

    async with db.tenant(account_id) as session:
        (bot,) = await bots.list_all(session, account_id)
        assert secret_box.decrypt(bot.token_ciphertext) == token
        assert bot.username == "school_bot"
        assert bot.telegram_id == int(token.reveal().split(":")[0])
        slugs = {c.slug for c in await courses.list_all(session, account_id)}
        assert slugs == {"english", "sheet-course", "vip"}
        sheet = await courses.get_by_slug(session, account_id, "sheet-course")
        version = await courses.latest_version(session, account_id, sheet.id)
        element_ids = await session.scalars(
            select(CourseElement.element_id)
            .where(CourseElement.version_id == version.id)
            .order_by(CourseElement.position)
        )
        assert list(element_ids) == ["Sheet_Hello", "Sheet_Name", "Sheet_End"]
        restricted = (
            await session.execute(
                select(CourseDeployment.restricted, Course.slug)
                .select_from(CourseDeployment)
                .join(CourseVersion, CourseVersion.id == CourseDeployment.course_version_id)
                .join(Course, Course.id == CourseVersion.course_id)
                .where(CourseDeployment.account_id == account_id)
            )
        ).all()
        assert sorted(restricted, key=lambda r: r[1]) == [
            (False, "english"),
            (False, "sheet-course"),
            (True, "vip"),
        ]
        allowed = (
            await session.execute(
                select(Restricted.telegram_user_id, Restricted.username).where(
                    Restricted.account_id == account_id
                )
            )
        ).all()
        alice_id = None if legacy.shape == "monolith" else 1005  # SaaS keeps chat ids too
        assert sorted(allowed, key=str) == sorted(
            [(alice_id, "alice"), (None, "bob_the_builder")], key=str
        )
        banned = (
            await session.execute(
                select(Banned.telegram_user_id, Banned.bot_id, Banned.reason).where(
                    Banned.account_id == account_id
                )
            )
        ).all()
        assert banned == [(1007, bot.id, "spam in chat")]
        waits = (
            await session.execute(
                select(Waiting.run_id, Waiting.due_at, Waiting.goto, Waiting.status).where(
                    Waiting.account_id == account_id
                )
            )
        ).all()

    chats = await runs_by_chat(db, account_id)
    assert {c: [r.status for r in rs] for c, rs in chats.items()} == {
        1001: ["completed"],
        1002: ["stopped", "active"],
        1003: ["active"],
        1004: ["active"],
        1005: ["active"],
    }
    async with db.tenant(account_id) as session:
        students = (
            await session.execute(
                select(Participant.id, Participant.telegram_user_id, Participant.username).where(
                    Participant.account_id == account_id
                )
            )
        ).all()
    assert sorted(s[1:] for s in students) == [
        (1001, "finisher"),
        (1002, "learner"),
        (1003, "sleeper"),
        (1004, "sheeter"),
        (1005, "Alice"),
    ]
    assert {r.participant_id for rs in chats.values() for r in rs} == {s[0] for s in students}
    finished = chats[1001][0]
    assert finished.started_at == datetime(2025, 4, 1, 10, 0, tzinfo=MOSCOW)
    assert (finished.utm_source, finished.utm_campaign) == ("vk", "spring")
    learner = RunState.from_dict(chats[1002][1].state)
    assert (learner.current, learner.awaiting) == ("Input_1", "text")
    assert learner.answers["Quiz_1"].score == 0 and learner.answers["Quiz_1"].maxscore == 1
    sleeper = RunState.from_dict(chats[1003][0].state)
    assert (sleeper.current, sleeper.awaiting) == ("Pause_1", "timer")
    # The old server's 12:00 in Moscow is 09:00 UTC.
    due = datetime(2031, 6, 1, 9, 0, tzinfo=UTC)
    assert (chats[1003][0].id, due, "Lesson_2", "pending") in waits
    assert (chats[1004][0].id, IMPORTED_AT, "Sheet_Hello", "pending") in waits
    assert len(waits) == 2

    async with db.tenant(account_id) as session:
        history = (
            await session.execute(
                select(Conversation.element_id, Conversation.role, Conversation.score)
                .where(Conversation.run_id == chats[1002][1].id)
                .order_by(Conversation.id)
            )
        ).all()
    assert history == [
        ("Intro", "bot", None),
        ("Quiz_1", "bot", None),
        ("Quiz_1", "user", 0.0),
        ("Input_1", "bot", None),
    ]


async def test_a_second_import_adds_nothing(db, secret_box, legacy, account):
    account_id, slug = account
    await run_import(db, secret_box, legacy, slug)
    before = await table_counts(db, account_id)

    again = await run_import(db, secret_box, legacy, slug)

    assert await table_counts(db, account_id) == before
    assert all(t.imported == 0 for k, t in again.tallies.items()), again.table()
    assert counts(again)["runs"] == (0, 6, 1)
    assert counts(again)["conversation lines"] == (0, 18, 1)
    assert counts(again)["courses"] == (0, 3, 1)


async def test_a_dry_run_reports_the_same_and_keeps_nothing(db, secret_box, legacy, account):
    account_id, slug = account

    summary = await run_import(db, secret_box, legacy, slug, dry_run=True)

    assert counts(summary)["runs"] == (6, 0, 1)
    assert "DRY RUN" in summary.table()
    assert set((await table_counts(db, account_id)).values()) == {0}


async def test_students_continue_where_the_old_bot_left_them(db, secret_box, legacy, account):
    account_id, slug = account
    await run_import(db, secret_box, legacy, slug)
    chats = await runs_by_chat(db, account_id)
    async with db.tenant(account_id) as session:
        english = await courses.get_by_slug(session, account_id, "english")
        version = await courses.latest_version(session, account_id, english.id)
        elements = await courses.elements_json(session, account_id, version.id)
    assert elements is not None
    course = jobs.build(elements)  # as the runtime builds the version it runs
    now = IMPORTED_AT + timedelta(minutes=1)

    # 1002 was asked for the plural of "mouse": the answer is scored and the course goes on.
    learner = RunState.from_dict(chats[1002][1].state)
    state, effects = step(course, learner, Text("mice"), now)
    assert state.answers["Input_1"].score == 1
    assert state.current == "Pause_1"
    assert any(getattr(e, "text", None) == "Correct!" for e in effects)

    # 1003's pause fires once, at its old due time, and leads to Lesson 2.
    sleeper = RunState.from_dict(chats[1003][0].state)
    state, effects = step(course, sleeper, TimerFired("w1"), now)
    assert state.current == "Lesson_2"
    assert any(getattr(e, "text", None) == "Lesson 2 begins now." for e in effects)
    assert step(course, state, TimerFired("w1"), now) == (state, [])


async def test_the_runtime_fires_an_imported_delay_once_and_resends_a_button_prompt(
    db, secret_box, legacy, account
):
    """The runtime's own scheduler takes the imported timers: the pause ends once, at its
    old due time, and the student at a button gets that prompt again, with buttons of ours."""
    account_id, slug = account
    # Due long ago, so this scheduler claims these timers and nobody else's.
    conn = await asyncpg.connect(legacy.dsn)
    try:
        await conn.execute("UPDATE waiting_element SET waiting_till_date = '1961-01-01 12:00'")
    finally:
        await conn.close()
    snapshot = await read_snapshot(legacy.dsn)
    options = ImportOptions(
        account_slug=slug, timezone=MOSCOW, bot_tokens=legacy.command_line_tokens
    )
    await import_snapshot(db, secret_box, snapshot, options, LONG_AGO)
    chats = await runs_by_chat(db, account_id)
    sleeper, sheeter = chats[1003][0].id, chats[1004][0].id
    scheduler = TimerScheduler(db, lambda: LONG_AGO + timedelta(days=1))

    assert await scheduler.fire_due() == 2
    assert await scheduler.fire_due() == 0
    assert await apply_inbox_events(db, account_id) == 2  # as the runtime applies them

    async with db.tenant(account_id) as session:
        lines = {
            run_id: [
                (c.element_id, c.text)
                for c in await conversation.list_for_run(session, account_id, run_id)
            ]
            for run_id in (sleeper, sheeter)
        }
        states = {
            run_id: RunState.from_dict((await runs.get(session, account_id, run_id)).state)
            for run_id in (sleeper, sheeter)
        }
    assert lines[sleeper].count(("Lesson_2", "Lesson 2 begins now.")) == 1
    assert (states[sleeper].current, states[sleeper].awaiting) == ("Lesson_2", "button")
    assert lines[sheeter].count(("Sheet_Hello", "Hi from the sheet")) == 2  # old + re-sent
    assert (states[sheeter].current, states[sheeter].awaiting) == ("Sheet_Hello", "button")


async def test_the_command_prints_the_summary_table(
    db, legacy, account, test_database, service_urls, tmp_path
):
    account_id, slug = account
    printed: list[str] = []

    @contextmanager
    def stores() -> Iterator[Settings]:
        yield process_settings(test_database, service_urls.redis_url, tmp_path)

    argv = ["--from", legacy.dsn, "--account", slug, "--timezone", "Europe/Moscow"]
    if legacy.shape == "monolith":
        argv += ["--bot-token", f"school_bot={legacy.token.reveal()}"]
    # asyncio.run inside: the command runs in a thread of its own, as from a shell.
    code = await asyncio.to_thread(import_main, argv, stores=stores, write=printed.append)

    assert code == 0
    (table,) = printed
    assert "ProfoChatBot import" in table
    runs_row = next(line for line in table.splitlines() if line.startswith("runs "))
    assert runs_row.split()[1:] == ["6", "0", "1"]
    assert legacy.token.reveal() not in table
    assert (await table_counts(db, account_id))["run"] == 6


async def test_the_command_refuses_an_unknown_account(
    legacy, test_database, service_urls, tmp_path
):
    printed: list[str] = []

    @contextmanager
    def stores() -> Iterator[Settings]:
        yield process_settings(test_database, service_urls.redis_url, tmp_path)

    argv = ["--from", legacy.dsn, "--account", "no-such-school"]
    code = await asyncio.to_thread(import_main, argv, stores=stores, write=printed.append)

    assert code == 1
    assert printed == ["import failed: no account with slug 'no-such-school'"]
