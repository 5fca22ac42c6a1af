"""Repository behaviour the runtime and the panel rely on (beyond runs and tokens)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.admission_batch import (
    Profile,
    StartFacts,
    StartQuestion,
    start_facts,
    upsert_participants,
)
from storage.batch import NewUpdate
from storage.crypto import Secret
from storage.models import CourseElement
from storage.repositories import (
    audit,
    bans,
    conversation,
    courses,
    inbox,
    members,
    outbox,
    participants,
    payments,
)
from tests.integration import seeding
from tests.integration.batch_support import batch

pytestmark = pytest.mark.integration


async def element_rows(s: AsyncSession, account: int, version_id: int) -> list[CourseElement]:
    """A version's element rows as the database holds them, in order."""
    stmt = (
        select(CourseElement)
        .where(CourseElement.account_id == account, CourseElement.version_id == version_id)
        .order_by(CourseElement.position)
    )
    return list((await s.scalars(stmt)).all())


async def test_redelivered_update_is_stored_once(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    payload = orjson.dumps({"update_id": 77, "message": {"text": "/start"}}).decode()
    update = NewUpdate(account, seeded.bot_id, 77, 5, payload)
    now = datetime.now(UTC)
    async with batch(db, account) as conn:
        first = await conn.store_updates([update], now)
    async with batch(db, account) as conn:
        again = await conn.store_updates([update], now)
    assert list(first) == [(seeded.bot_id, 77)] and again == {}
    async with db.tenant(account) as s:
        waiting = await inbox.oldest_for_chat(s, account, seeded.bot_id, 5, limit=10)
    assert [row.update_id for row in waiting] == [77]


async def test_outbox_keeps_order_and_records_failed_attempts(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        for n in range(4):
            await seeding.message(
                s, account, bot_id=seeded.bot_id, chat_id=9, payload={"text": f"m{n}"}
            )
        queued = await outbox.pending_for_chat(s, account, seeded.bot_id, 9)
        assert [row.payload["text"] for row in queued] == ["m0", "m1", "m2", "m3"]
        await outbox.mark_failed(s, account, queued[0].id, error="429", final=False)
        await outbox.mark_failed(s, account, queued[1].id, error="403 blocked", final=True)
    async with db.tenant(account) as s:
        left = await outbox.pending_for_chat(s, account, seeded.bot_id, 9)
    assert [(row.payload["text"], row.attempts, row.last_error) for row in left] == [
        ("m0", 1, "429"),
        ("m2", 0, None),
        ("m3", 0, None),
    ]


async def test_course_versions_are_numbered_and_keep_their_elements(db, make_account):
    account = await make_account()
    elements = [
        {"id": "intro", "type": "message", "text": "Hello"},
        {"id": "q_1", "type": "quiz", "answers": [{"text": "a", "correct": True}]},
    ]
    async with db.tenant(account) as s:
        course = await courses.create(s, account, title="AI basics", slug="ai-basics")
        v1 = await courses.add_version(
            s,
            account,
            course.id,
            source_text="v1",
            source_format="yaml",
            elements=elements,
            checksum="c1",
        )
        v2 = await courses.add_version(
            s,
            account,
            course.id,
            source_text="v2",
            source_format="gsheet",
            elements=elements[:1],
            checksum="c2",
        )
        assert (v1.number, v2.number) == (1, 2)
        assert (await courses.latest_version(s, account, course.id)).id == v2.id
        rows = await element_rows(s, account, v1.id)
        assert [(r.position, r.element_id, r.type) for r in rows] == [
            (0, "intro", "message"),
            (1, "q_1", "quiz"),
        ]
        assert rows[1].data == elements[1]
        assert orjson.loads(await courses.elements_json(s, account, v1.id)) == elements
        assert (v1.elements_count, v2.elements_count) == (2, 1)

    with pytest.raises(ValueError, match="element #0 needs string 'id' and 'type'"):
        async with db.tenant(account) as s:
            await courses.add_version(
                s,
                account,
                course.id,
                source_text="",
                source_format="yaml",
                elements=[{"type": "message"}],
                checksum="",
            )


async def test_a_version_given_as_json_text_gets_its_element_rows(db, make_account, owner_engine):
    """The panel hands over the elements as the JSON text its worker made; PostgreSQL expands
    them into the version's rows, in order, in the account (RLS sees them; no other does)."""
    account, other = await make_account(), await make_account()
    document = orjson.dumps(
        [{"id": f"m{i}", "type": "message", "text": f"Step {i}"} for i in range(300)]
    ).decode()
    async with db.tenant(account) as s:
        course = await courses.create(s, account, title="Big", slug="big")
        version = await courses.add_version(
            s,
            account,
            course.id,
            source_text="big",
            source_format="yaml",
            elements=document,
            checksum="c",
        )
        rows = await element_rows(s, account, version.id)
    assert version.elements_count == 300
    assert [(r.position, r.element_id, r.type) for r in rows[:2]] == [
        (0, "m0", "message"),
        (1, "m1", "message"),
    ]
    assert rows[-1].data == {"id": "m299", "type": "message", "text": "Step 299"}
    assert {r.account_id for r in rows} == {account}
    async with db.tenant(other) as s:
        assert await element_rows(s, other, version.id) == []
        assert await courses.elements_json(s, other, version.id) is None

    with pytest.raises(ValueError, match="element #1 needs string 'id' and 'type'"):
        async with db.tenant(account) as s:
            await courses.add_version(
                s,
                account,
                course.id,
                source_text="",
                source_format="yaml",
                elements='[{"id": "a", "type": "end"}, {"id": 7, "type": "end"}]',
                checksum="",
            )
    async with db.tenant(account) as s:  # the refused version left nothing behind
        assert [v.number for v in await courses.list_versions(s, account, course.id)] == [1]


async def test_simultaneous_uploads_get_consecutive_version_numbers(db, make_account):
    account = await make_account()
    async with db.tenant(account) as s:
        course = await courses.create(s, account, title="T", slug="t")

    async def upload(n: int) -> int:
        async with db.tenant(account) as s:
            version = await courses.add_version(
                s,
                account,
                course.id,
                source_text=str(n),
                source_format="yaml",
                elements=[{"id": "e", "type": "end"}],
                checksum=str(n),
            )
            return version.number

    assert sorted(await asyncio.gather(*(upload(n) for n in range(5)))) == [1, 2, 3, 4, 5]


async def test_participant_profile_follows_telegram(db, make_account):
    account = await make_account()
    async with batch(db, account) as conn:
        first = await upsert_participants(conn, [Profile(account, 555, "ann", None, None)])
    async with batch(db, account) as conn:
        again = await upsert_participants(conn, [Profile(account, 555, "ann_new", None, "ru")])
    assert first == again == {(account, 555): first[(account, 555)]}
    async with db.tenant(account) as s:
        profile = await participants.get(s, account, first[(account, 555)])
    assert (profile.username, profile.language_code) == ("ann_new", "ru")


async def _start_facts(db, seeded, user: int, username: str | None = None) -> StartFacts:
    """What `/start` of the seeded deployment learns about the student (admission.py)."""
    question = StartQuestion(seeded.account_id, seeded.bot_id, user, username, seeded.deployment_id)
    async with batch(db, seeded.account_id) as conn:
        return (await start_facts(conn, [question]))[0]


async def test_bans_cover_one_bot_or_the_whole_account(db, seed_account):
    seeded = await seed_account()
    account, bot = seeded.account_id, seeded.bot_id
    async with db.tenant(account) as s:
        await bans.ban(s, account, telegram_user_id=100, bot_id=bot, reason="spam")
        await bans.ban(s, account, telegram_user_id=100, bot_id=bot, reason="twice")
        await bans.ban(s, account, telegram_user_id=200)
        await bans.ban(s, account, telegram_user_id=200)  # account-wide twice: still one row
        banned = [b for b in await bans.list_banned(s, account) if b.telegram_user_id in (100, 200)]
        assert sorted((b.telegram_user_id, b.reason) for b in banned) == [
            (100, "spam"),
            (200, None),
        ]
    assert (await _start_facts(db, seeded, 100)).banned
    assert (await _start_facts(db, seeded, 200)).banned
    assert not (await _start_facts(db, seeded, 300)).banned
    async with db.tenant(account) as s:
        (ban,) = [b for b in await bans.list_banned(s, account) if b.telegram_user_id == 200]
        await s.delete(ban)  # as the panel's unban does, by the ban's row
    assert not (await _start_facts(db, seeded, 200)).banned


async def test_restricted_allow_list_by_id_or_username(db, seed_account):
    seeded = await seed_account()  # allows "@Seed_User"
    account, deployment = seeded.account_id, seeded.deployment_id
    async with db.tenant(account) as s:
        await bans.allow(s, account, deployment_id=deployment, telegram_user_id=42)
    assert (await _start_facts(db, seeded, 42)).allowed
    assert (await _start_facts(db, seeded, 1, bans.normalise_username("SEED_user"))).allowed
    assert not (await _start_facts(db, seeded, 1, "other")).allowed
    with pytest.raises(IntegrityError):
        async with db.tenant(account) as s:
            await bans.allow(s, account, deployment_id=deployment, username="seed_user")


async def test_payments_are_idempotent_per_account(db, seed_account, secret_box):
    seeded = await seed_account()
    account = seeded.account_id
    order = {
        "deployment_id": seeded.deployment_id,
        "idempotence_key": "order-1",
        "amount": Decimal("10.50"),
        "currency": "RUB",
        "chat_id": 4242,
        "telegram_user_id": 4242,
        "description": "The course",
        "return_url": "https://t.me/seed_bot",
        "metadata": {"run_id": seeded.run_id},
    }
    async with db.tenant(account) as s:
        payment = await payments.create_once(s, account, **order)
        await payments.attach_provider_payment(
            s, account, payment.id, provider_payment_id="yk-1", confirmation_url=None
        )
        paid = await payments.set_status(s, account, payment.id, "succeeded")
        assert (paid.status, paid.amount, paid.meta) == (
            "succeeded",
            Decimal("10.50"),
            {"run_id": seeded.run_id},
        )
        assert (await payments.lock_by_provider_id(s, account, "yk-1")).id == payment.id
        assert (await payments.get_by_idempotence_key(s, account, "order-1")).id == payment.id
        creds = await payments.set_credentials(
            s, account, shop_id="654321", secret=Secret("new-secret"), box=secret_box
        )
        assert payments.reveal_secret(creds, secret_box) == Secret("new-secret")
        assert (await payments.get_credentials(s, account)).shop_id == "654321"
    async with db.tenant(account) as s:  # the same order again: the same row, nothing new
        again = await payments.create_once(s, account, **{**order, "amount": Decimal("1.00")})
    assert (again.id, again.amount, again.status) == (payment.id, Decimal("10.50"), "succeeded")


async def test_members_roles_conversation_and_audit(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        await members.add(s, account, telegram_user_id=31, role="viewer", username="t")
        assert (await members.set_role(s, account, 31, "teacher")).role == "teacher"
        assert len(await members.list_all(s, account)) == 2
        assert await members.remove(s, account, 31)
        with pytest.raises(ValueError):
            await members.add(s, account, telegram_user_id=32, role="god")

        await seeding.line(
            s,
            account,
            run_id=seeded.run_id,
            element_id="q_1",
            role="user",
            text="B",
            score=1,
            maxscore=1,
        )
        history = await conversation.list_for_run(s, account, seeded.run_id)
        assert [(c.element_id, c.role, c.score) for c in history] == [
            ("intro", "bot", None),
            ("q_1", "user", 1),
        ]

        entry = await audit.record(
            s, account, actor="tg:1", action="bot.add", object_type="bot", object_id=seeded.bot_id
        )
        recent = await audit.list_recent(s, account, limit=1)
        assert [(r.id, r.object_id) for r in recent] == [(entry.id, str(seeded.bot_id))]
