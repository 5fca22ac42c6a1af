"""The journal's group commit against real PostgreSQL: work of several chats and accounts in
one transaction, each chat's order kept, one item's failure kept to itself, `/start`s of a
batch counted against their token exactly and their link visits written at once."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import func, select, text

from adapters.telegram.updates import read_update, translate
from botapi.deeplink import build_start_payload, parse_start_payload
from runtime import effect_codec
from runtime.admission import Start, admit_starts
from runtime.hosted_bot import HostedBot
from runtime.inbound import StartRequest
from runtime.journal import Journal
from runtime.journal_items import (
    Arrival,
    HandleResult,
    IncomingUpdate,
    Stored,
    StoreOutcome,
)
from storage.models import LinkVisit, ProcessedUpdate, Run
from tests.course_files import fixture_text
from tests.fakes.telegram_api import FakeBot
from tests.integration.batch_support import batch
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import (
    add_bot,
    add_course_version,
    add_token,
    deploy,
)

pytestmark = pytest.mark.integration

_update_ids = itertools.count(1)
_users = itertools.count(8_100_000)


@dataclass
class School:
    bot: HostedBot
    start_payload: str


async def open_school(
    db, secret_box, make_account, *, source: str | None = None, **token_options: object
) -> School:
    """An account whose bot has `source` (else chat_basics.yaml) deployed, and a link."""
    account_id = await make_account()
    telegram_id = random_telegram_id()
    fake_bot = FakeBot(telegram_id, f"{telegram_id}:{'x' * 35}", f"j{telegram_id}_bot", "J")
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    source = source or fixture_text("chat_basics.yaml")
    version_id = await add_course_version(db, account_id, source, "journal")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    token = await add_token(db, account_id, deployment_id, **token_options)
    return School(
        HostedBot(bot_id, account_id, fake_bot.username, None),
        build_start_payload(deployment_id, token),
    )


def text_update(user_id: int, text_: str, update_id: int | None = None) -> dict:
    return {
        "update_id": update_id or next(_update_ids),
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": "S", "language_code": "en"},
            "text": text_,
        },
    }


def incoming(raw: dict, payload: str | None = None, *, at_once: bool = False) -> IncomingUpdate:
    inbound = translate(read_update(raw))
    chat_id = inbound.chat_id if inbound is not None else None
    return IncomingUpdate(
        raw["update_id"], chat_id, payload or orjson.dumps(raw).decode(), inbound, at_once
    )


async def arrive(journal: Journal, bot: HostedBot, raw: dict) -> Arrival:
    (stored,) = await journal.store(bot, [incoming(raw)])
    assert stored.outcome is StoreOutcome.STORED
    return Arrival(stored.inbox_id, raw["update_id"], translate(read_update(raw)))


def texts(result: HandleResult) -> list[str]:
    return [effect_codec.decode(m.payload).text for m in result.pending]  # type: ignore[union-attr]


async def test_one_transaction_carries_several_accounts_and_sees_no_other(
    db, secret_box, make_account, journal
):
    first, second, third = [await open_school(db, secret_box, make_account) for _ in range(3)]
    users = [next(_users) for _ in range(3)]
    starts = [
        text_update(user, f"/start {school.start_payload}")
        for user, school in zip(users, (first, second, third), strict=True)
    ]
    arrivals = [
        await arrive(journal, school.bot, raw)
        for school, raw in zip((first, second, third), starts, strict=True)
    ]

    results = await asyncio.gather(
        *(
            journal.handle(school.bot, user, arrival)
            for school, user, arrival in zip((first, second), users[:2], arrivals[:2], strict=True)
        )
    )

    assert all(r is not None and r.position is not None for r in results)
    for school, user in zip((first, second), users[:2], strict=True):
        async with db.tenant(school.bot.account_id) as session:
            run = await session.scalar(select(Run).where(Run.chat_id == user))
        assert run is not None and run.is_active
    # A batch transaction names its accounts: it sees those accounts' rows and no others.
    connection = await db.connect_batch()
    try:
        await connection.begin([first.bot.account_id, second.bot.account_id])
        seen = await connection.fetch("SELECT DISTINCT account_id FROM processed_update")
        await connection.rollback()
    finally:
        await connection.close()
    assert {r["account_id"] for r in seen} == {first.bot.account_id, second.bot.account_id}


async def test_a_redelivered_update_is_stored_once(db, secret_box, make_account, journal):
    school = await open_school(db, secret_box, make_account)
    raw = text_update(next(_users), "hello")

    first = await journal.store(school.bot, [incoming(raw)])
    again = await journal.store(school.bot, [incoming(raw)])

    assert first[0].outcome is StoreOutcome.STORED
    assert again == [Stored(StoreOutcome.DUPLICATE)]


async def test_a_chats_newer_update_waits_for_its_older_one(db, secret_box, make_account, journal):
    school = await open_school(db, secret_box, make_account)
    user = next(_users)
    older = await arrive(journal, school.bot, text_update(user, f"/start {school.start_payload}"))
    newer = await arrive(journal, school.bot, text_update(user, "some text"))

    assert await journal.handle(school.bot, user, newer) is None  # the older one is unprocessed
    assert await journal.handle(school.bot, user, older) is not None
    assert await journal.handle(school.bot, user, newer) is not None
    assert await journal.handle(school.bot, user, newer) is None  # handled once only


async def test_an_idle_chats_update_is_stored_and_handled_in_one_transaction(
    db, secret_box, make_account, journal
):
    school = await open_school(db, secret_box, make_account)
    user = next(_users)
    raw = text_update(user, f"/start {school.start_payload}")
    before = db.batch_stats.transactions

    (stored,) = await journal.store(school.bot, [incoming(raw, at_once=True)], handle=True)

    # One commit: the update is in the inbox, processed, and its reply queued.
    assert db.batch_stats.transactions == before + 1
    assert stored.outcome is StoreOutcome.STORED and stored.handled is not None
    assert stored.handled.position is not None and texts(stored.handled)
    async with db.tenant(school.bot.account_id) as session:
        row = await session.scalar(
            select(ProcessedUpdate).where(ProcessedUpdate.id == stored.inbox_id)
        )
        run = await session.scalar(select(Run).where(Run.chat_id == user))
    assert row is not None and row.processed_at is not None and row.error is None
    assert run is not None and run.is_active
    # Telegram delivering it again finds it stored: it is neither stored nor handled twice.
    again = await journal.store(school.bot, [incoming(raw, at_once=True)], handle=True)
    assert again == [Stored(StoreOutcome.DUPLICATE)]


async def test_an_update_stored_behind_an_unprocessed_one_is_left_to_its_chat(
    db, secret_box, make_account, journal
):
    school = await open_school(db, secret_box, make_account)
    user = next(_users)
    older = await arrive(journal, school.bot, text_update(user, f"/start {school.start_payload}"))
    raw = text_update(user, "some text")

    (stored,) = await journal.store(school.bot, [incoming(raw, at_once=True)], handle=True)

    # Stored, not handled: the chat's older update goes first, through the chat's worker.
    assert stored.outcome is StoreOutcome.STORED and stored.handled is None
    newer = Arrival(stored.inbox_id, raw["update_id"], translate(read_update(raw)))
    assert await journal.handle(school.bot, user, newer) is None
    assert await journal.handle(school.bot, user, older) is not None
    assert await journal.handle(school.bot, user, newer) is not None


async def test_an_update_postgres_refuses_is_skipped_alone(db, secret_box, make_account, journal):
    school = await open_school(db, secret_box, make_account)
    good = text_update(next(_users), "fine")
    bad = text_update(next(_users), "broken")
    # A lone surrogate, escaped as JSON allows: PostgreSQL's jsonb refuses it.
    poison = orjson.dumps(bad).decode().replace("broken", "\\ud800")

    outcomes = await asyncio.gather(
        journal.store(school.bot, [incoming(good)]),
        journal.store(school.bot, [incoming(bad, poison)]),
    )

    assert outcomes[0][0].outcome is StoreOutcome.STORED
    assert outcomes[1] == [Stored(StoreOutcome.REFUSED)]
    async with db.tenant(school.bot.account_id) as session:
        stored = set(
            await session.scalars(
                select(ProcessedUpdate.update_id).where(ProcessedUpdate.bot_id == school.bot.bot_id)
            )
        )
    assert stored == {good["update_id"]}


async def test_starts_of_one_batch_count_a_group_token_exactly(
    db, secret_box, make_account, journal
):
    school = await open_school(db, secret_box, make_account, kind="group", max_uses=3)
    users = [next(_users) for _ in range(5)]
    arrivals = [
        await arrive(journal, school.bot, text_update(user, f"/start {school.start_payload}"))
        for user in users
    ]

    results = await asyncio.gather(
        *(
            journal.handle(school.bot, user, arrival)
            for user, arrival in zip(users, arrivals, strict=True)
        )
    )

    begun = [r for r in results if r is not None and r.position is not None]
    refused = [r for r in results if r is not None and r.position is None]
    assert (len(begun), len(refused)) == (3, 2)
    assert all("maximum number of students" in texts(r)[0] for r in refused)
    async with db.tenant(school.bot.account_id) as session:
        runs = await session.scalar(
            select(func.count()).select_from(Run).where(Run.bot_id == school.bot.bot_id)
        )
        uses = await session.scalar(
            text(
                "SELECT uses FROM enrollment_token WHERE deployment_id IN "
                "(SELECT id FROM course_deployment WHERE bot_id = :bot)"
            ),
            {"bot": school.bot.bot_id},
        )
    assert (runs, uses) == (3, 3)


async def test_a_batch_of_starts_records_its_link_visits_in_the_statements_of_one(
    db, secret_box, make_account
):
    """Every deep-link start is a link visit, written for the whole batch at once: thirty
    starts cost the statements one start costs."""
    school = await open_school(db, secret_box, make_account)
    account_id = school.bot.account_id
    link = parse_start_payload(school.start_payload)
    assert link is not None
    # A link each, so that every token's use is counted in the batch's first round.
    links = [
        build_start_payload(link.deployment_id, await add_token(db, account_id, link.deployment_id))
        for _ in range(31)
    ]

    async def admit(payloads: list[str]) -> tuple[list[int], int]:
        users = [next(_users) for _ in payloads]
        starts = []
        for user, payload in zip(users, payloads, strict=True):
            inbound = translate(read_update(text_update(user, f"/start {payload}")))
            assert inbound is not None and isinstance(inbound.action, StartRequest)
            starts.append(Start(school.bot, inbound, inbound.action, None))
        before = db.batch_stats.statements
        async with batch(db, account_id) as conn:
            admitted = await admit_starts(conn, starts, datetime.now(UTC))
        assert all(a.begun is not None for a in admitted)
        return users, db.batch_stats.statements - before

    alone, one_start = await admit(links[:1])
    many, thirty_starts = await admit(links[1:])

    assert thirty_starts == one_start
    async with db.tenant(account_id) as session:
        visitors = set(
            await session.scalars(
                select(LinkVisit.chat_id).where(LinkVisit.deployment_id == link.deployment_id)
            )
        )
    assert visitors == {*alone, *many}
