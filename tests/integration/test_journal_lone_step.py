"""An idle chat's answer as one statement that commits alone (`Batch.run_alone`), against
real PostgreSQL: the reply and every row are what the batch's transaction would have
written, and whenever the run or the chat is not as this process remembers it, nothing is
written that way and the batch's transaction does the work from the database's state."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update

from runtime.course_cache import CourseCache
from runtime.hosted_bot import HostedBot
from runtime.journal import Journal
from runtime.journal_items import HandleResult, Stored, StoreOutcome
from storage.models import Conversation, ProcessedUpdate, Run, WebhookDelivery, WebhookEndpoint
from tests.course_workers import shared_course_workers
from tests.integration.test_journal import incoming, open_school, text_update, texts

pytestmark = pytest.mark.integration

_users = itertools.count(8_300_000)


async def say(journal: Journal, bot: HostedBot, user: int, words: str) -> HandleResult:
    """The student writes `words` to an idle chat (the poller's way: store and handle)."""
    (stored,) = await journal.store(
        bot, [incoming(text_update(user, words), at_once=True)], handle=True
    )
    assert stored.outcome is StoreOutcome.STORED and stored.handled is not None
    assert stored.handled.ok
    return stored.handled


async def to_the_input(journal: Journal, bot: HostedBot, user: int, payload: str) -> None:
    """/start, then the chat's run waits for a typed name (COURSE)."""
    handled = await say(journal, bot, user, f"/start {payload}")
    assert texts(handled) == ["What is your name?"]


async def lines_of(db, account_id: int, user: int) -> list[tuple[str, str]]:
    async with db.tenant(account_id) as session:
        rows = await session.execute(
            select(Conversation.role, Conversation.text)
            .join(Run, Run.id == Conversation.run_id)
            .where(Run.chat_id == user)
            .order_by(Conversation.id)
        )
    return [(role, words) for role, words in rows.all()]


COURSE = """
Ask_Name:
  type: input
  text: What is your name?
Greet:
  type: message
  text: "Nice to meet you, {{Ask_Name}}."
Ask_City:
  type: input
  text: Where do you live?
Bye:
  type: message
  text: "{{Ask_City}} is lovely."
"""


@pytest.fixture
async def school(db, secret_box, make_account):
    return await open_school(db, secret_box, make_account, source=COURSE)


async def test_an_idle_chats_answer_is_one_statement_with_the_rows_a_transaction_writes(
    db, journal, school
):
    user = next(_users)
    await to_the_input(journal, school.bot, user, school.start_payload)
    before = (db.batch_stats.transactions, db.batch_stats.statements)

    handled = await say(journal, school.bot, user, "Ada")

    # One commit of at most two statements (the first names the account for the
    # connection), where the batch's way takes five: BEGIN, store, lock, write, COMMIT.
    assert db.batch_stats.transactions == before[0] + 1
    assert db.batch_stats.statements - before[1] <= 2
    # (the chat's messages still unsent, in order: nothing here delivers them)
    assert texts(handled) == ["What is your name?", "Nice to meet you, Ada.", "Where do you live?"]
    assert handled.position is not None and handled.position.element == "Ask_City"
    async with db.tenant(school.bot.account_id) as session:
        run = await session.scalar(select(Run).where(Run.chat_id == user))
        inbox = await session.scalar(
            select(func.count())
            .select_from(ProcessedUpdate)
            .where(ProcessedUpdate.chat_id == user, ProcessedUpdate.processed_at.is_(None))
        )
    assert run is not None and run.is_active and run.current_element == "Ask_City"
    assert inbox == 0
    assert ("user", "Ada") in await lines_of(db, school.bot.account_id, user)

    # The next answer goes the same way, from the state this step left.
    handled = await say(journal, school.bot, user, "Paris")
    assert texts(handled)[-1] == "Paris is lovely."


async def test_a_run_another_process_moved_is_stepped_from_the_database(db, journal, school):
    user = next(_users)
    await to_the_input(journal, school.bot, user, school.start_payload)
    # Another runner (a journal of its own, as after a takeover) takes the answer: this
    # process's memory of the run is one step behind now.
    other = Journal(db, CourseCache(shared_course_workers()), lambda: datetime.now(UTC))
    other.start()
    try:
        await say(other, school.bot, user, "Ada")
    finally:
        await other.stop()

    handled = await say(journal, school.bot, user, "Paris")

    assert texts(handled)[-1] == "Paris is lovely."
    lines = await lines_of(db, school.bot.account_id, user)
    assert [words for role, words in lines if role == "user"] == ["Ada", "Paris"]


async def test_an_update_delivered_again_is_neither_stored_nor_stepped_twice(db, journal, school):
    user = next(_users)
    await to_the_input(journal, school.bot, user, school.start_payload)
    raw = text_update(user, "Ada")
    (first,) = await journal.store(school.bot, [incoming(raw, at_once=True)], handle=True)
    again = await journal.store(school.bot, [incoming(raw, at_once=True)], handle=True)

    assert first.handled is not None and "Nice to meet you, Ada." in texts(first.handled)
    assert again == [Stored(StoreOutcome.DUPLICATE)]
    lines = await lines_of(db, school.bot.account_id, user)
    assert [words for role, words in lines if role == "user"] == ["Ada"]


async def test_a_webhook_added_meanwhile_gets_the_answer_event(db, journal, school, secret_box):
    user = next(_users)
    account_id = school.bot.account_id
    await to_the_input(journal, school.bot, user, school.start_payload)
    async with db.tenant(account_id) as session:
        session.add(
            WebhookEndpoint(
                account_id=account_id,
                url="https://crm.example.com/hook",
                secret_ciphertext=secret_box.encrypt("s3cret"),
                events=["answer.recorded"],
            )
        )

    await say(journal, school.bot, user, "Ada")

    async with db.tenant(account_id) as session:
        types = (
            await session.scalars(
                select(WebhookDelivery.event_type).where(WebhookDelivery.account_id == account_id)
            )
        ).all()
    assert types == ["answer.recorded"]


async def test_an_older_update_waiting_in_the_chat_goes_first(db, journal, school):
    user = next(_users)
    await to_the_input(journal, school.bot, user, school.start_payload)
    older = text_update(user, "Ada")
    (stored,) = await journal.store(school.bot, [incoming(older)])  # stored, not handled

    (newer,) = await journal.store(
        school.bot, [incoming(text_update(user, "Paris"), at_once=True)], handle=True
    )

    assert newer.outcome is StoreOutcome.STORED and newer.handled is None
    async with db.tenant(school.bot.account_id) as session:
        unprocessed = await session.scalar(
            select(func.count())
            .select_from(ProcessedUpdate)
            .where(ProcessedUpdate.chat_id == user, ProcessedUpdate.processed_at.is_(None))
        )
    assert unprocessed == 2
    assert stored.inbox_id is not None
    lines = await lines_of(db, school.bot.account_id, user)
    assert [words for role, words in lines if role == "user"] == []


async def test_a_run_the_panel_stopped_is_not_stepped(db, journal, school):
    user = next(_users)
    await to_the_input(journal, school.bot, user, school.start_payload)
    async with db.tenant(school.bot.account_id) as session:
        await session.execute(
            update(Run)
            .where(Run.chat_id == user)
            .values(is_active=False, status="stopped", finished_at=text("now()"))
        )

    handled = await say(journal, school.bot, user, "Ada")

    assert handled.position is None
    assert all("Ada" not in words for words in texts(handled))
    lines = await lines_of(db, school.bot.account_id, user)
    assert [words for role, words in lines if role == "user"] == []
