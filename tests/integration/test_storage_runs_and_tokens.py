"""The rules students feel: one active run per chat, token limits, a stopped run goes quiet.

These are the statements the journal runs (storage/admission_batch.py, storage/batch.py),
each tested in a journal transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.admission_batch import NewRun, TokenWanted, insert_runs, stop_runs, token_states
from storage.admission_batch import use_tokens as count_tokens
from storage.batch import RunWrites
from storage.models import Outbox, OutboxStatus, RunStatus, TokenKind, Waiting, WaitStatus
from storage.repositories import runs, tokens
from storage.repositories.tokens import TokenRefusal, refusal_of
from tests.integration import seeding
from tests.integration.batch_support import batch

pytestmark = pytest.mark.integration


def _new_run(seeded, chat_id: int) -> NewRun:
    return NewRun(
        seeded.account_id,
        seeded.deployment_id,
        seeded.version_id,
        seeded.bot_id,
        chat_id,
        chat_id,
        None,
        None,
    )


async def test_database_rejects_a_second_active_run_in_a_chat(db, seed_account):
    seeded = await seed_account()  # has an active run in chat `seeded.chat_id`
    with pytest.raises(IntegrityError, match="uq_run_bot_id_chat_id_active"):
        async with db.tenant(seeded.account_id) as s:
            await s.execute(
                text(
                    "INSERT INTO run (account_id, deployment_id, course_version_id, bot_id, "
                    "chat_id, telegram_user_id) VALUES (:a, :d, :v, :b, :c, :c)"
                ),
                {
                    "a": seeded.account_id,
                    "d": seeded.deployment_id,
                    "v": seeded.version_id,
                    "b": seeded.bot_id,
                    "c": seeded.chat_id,
                },
            )


async def test_new_run_in_a_chat_only_after_the_first_ended(db, seed_account):
    seeded = await seed_account()
    account, chat = seeded.account_id, seeded.chat_id
    async with batch(db, account) as conn:
        assert await insert_runs(conn, [_new_run(seeded, chat)]) == {}
    async with db.tenant(account) as s:
        active = await runs.get_active(s, account, seeded.bot_id, chat)
        assert active.id == seeded.run_id

    async with batch(db, account) as conn:
        await stop_runs(conn, [(seeded.run_id, account)])
        second = await insert_runs(conn, [_new_run(seeded, chat)])
        # Another chat of the same bot was never blocked by the first run.
        other = await insert_runs(conn, [_new_run(seeded, chat + 1)])
    assert second.keys() == {(seeded.bot_id, chat)}
    assert second[(seeded.bot_id, chat)].id != seeded.run_id
    assert other.keys() == {(seeded.bot_id, chat + 1)}
    async with db.tenant(account) as s:
        stopped = await runs.get(s, account, seeded.run_id)
    assert (stopped.status, stopped.is_active) == (RunStatus.STOPPED, False)
    assert stopped.finished_at is not None


async def test_a_stopped_run_drops_its_timers_and_unsent_messages(db, seed_account):
    """A run stopped (by a teacher, a ban, a refund, or a `/start` of another deployment)
    says nothing more: its timers are cancelled and its unsent messages dropped; the chat's
    other messages (here a notice outside any run) stay."""
    seeded = await seed_account()  # its run has a pending timer and one unsent message
    account = seeded.account_id
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with db.tenant(account) as s:
        await seeding.timer(s, account, run_id=seeded.run_id, wait_id="drip", due_at=soon)
        assert len(await _pending_timers(s, account, seeded.run_id)) == 2
        notice = await seeding.message(
            s, account, bot_id=seeded.bot_id, chat_id=seeded.chat_id, payload={"text": "Hi"}
        )
    async with batch(db, account) as conn:
        await stop_runs(conn, [(seeded.run_id, account)])
        await stop_runs(conn, [(seeded.run_id, account)])  # a second stop changes nothing
    async with db.tenant(account) as s:
        found = await s.execute(
            select(Outbox.id, Outbox.status).where(Outbox.account_id == account)
        )
        statuses = dict(found.all())
        assert statuses.pop(notice.id) == OutboxStatus.PENDING
        assert list(statuses.values()) == [OutboxStatus.CANCELLED]
        assert await _pending_timers(s, account, seeded.run_id) == []
        assert (await runs.get(s, account, seeded.run_id)).status == RunStatus.STOPPED


async def test_run_state_round_trips_as_json_with_its_element(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    state = {"element": "q1", "answers": {"q0": [1, 2]}, "score": 3, "text": "Привет"}
    saved = (seeded.run_id, account, orjson.dumps(state).decode(), "q1", None, None)
    writes = RunWrites(states=[saved])  # not finished: no final status, no note
    async with batch(db, account) as conn:
        await conn.write_steps(writes)
    async with db.tenant(account) as s:
        run = await runs.get(s, account, seeded.run_id)
    assert (run.state, run.current_element, run.is_active) == (state, "q1", True)


async def _use(db, account: int, deployment: int, token: str, user: int) -> TokenRefusal | None:
    """Count a use as a `/start` does; None when counted, else why it was refused."""
    wanted = {0: TokenWanted(account, deployment, token, user)}
    now = datetime.now(UTC)
    async with batch(db, account) as conn:
        if await count_tokens(conn, wanted, now):
            return None
        found = (await token_states(conn, wanted)).get(0)
    if found is None:
        return TokenRefusal.NOT_FOUND
    return refusal_of(found.revoked_at, found.expires_at, found.max_uses, found.uses, now)


async def test_fifty_concurrent_starts_admit_exactly_max_uses(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        group = await tokens.create(
            s, account, deployment_id=seeded.deployment_id, kind=TokenKind.GROUP, max_uses=10
        )

    async def press_start(user: int) -> TokenRefusal | None:
        return await _use(db, account, seeded.deployment_id, group.token, user)

    results = await asyncio.gather(*(press_start(1000 + i) for i in range(50)))
    assert results.count(None) == 10
    assert set(results) - {None} == {TokenRefusal.EXHAUSTED}
    async with db.tenant(account) as s:
        assert (await tokens.get(s, account, group.id)).uses == 10


async def test_the_nth_use_of_a_token_in_one_batch_counts_once_each(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        group = await tokens.create(
            s, account, deployment_id=seeded.deployment_id, kind=TokenKind.GROUP, max_uses=2
        )
    wanted = {n: TokenWanted(account, seeded.deployment_id, group.token, 10 + n) for n in range(3)}
    async with batch(db, account) as conn:
        counted = await count_tokens(conn, wanted, datetime.now(UTC))
    assert sorted(counted) == [0, 1]
    async with db.tenant(account) as s:
        assert (await tokens.get(s, account, group.id)).uses == 2


async def test_a_use_is_not_counted_when_the_start_rolls_back(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    wanted = {0: TokenWanted(account, seeded.deployment_id, seeded.token, 1)}
    with pytest.raises(RuntimeError):
        async with batch(db, account) as conn:
            assert await count_tokens(conn, wanted, datetime.now(UTC))
            raise RuntimeError("run creation failed")
    async with db.tenant(account) as s:
        assert (await tokens.get(s, account, seeded.token_id)).uses == 0


async def test_token_refusals_say_why(db, seed_account):
    seeded = await seed_account()
    account, deployment = seeded.account_id, seeded.deployment_id
    now = datetime.now(UTC)
    async with db.tenant(account) as s:
        expired = await tokens.create(
            s, account, deployment_id=deployment, kind="public", expires_at=now - timedelta(1)
        )
        revoked = await tokens.create(s, account, deployment_id=deployment, kind="public")
        assert await tokens.revoke(s, account, revoked.id)
        personal = await tokens.create(
            s, account, deployment_id=deployment, kind="personal", bound_telegram_user_id=7
        )
        single = await tokens.create(
            s, account, deployment_id=deployment, kind="personal", max_uses=1
        )

    async def use(token: str, user: int) -> TokenRefusal | None:
        return await _use(db, account, deployment, token, user)

    assert await use(expired.token, 1) is TokenRefusal.EXPIRED
    assert await use(revoked.token, 1) is TokenRefusal.REVOKED
    assert await use(personal.token, 8) is TokenRefusal.WRONG_USER
    assert await use(personal.token, 7) is None
    assert await use("nope", 1) is TokenRefusal.NOT_FOUND
    assert await use(single.token, 1) is None
    assert await use(single.token, 2) is TokenRefusal.EXHAUSTED


async def test_token_belongs_to_its_deployment(db, seed_account):
    a = await seed_account()
    b = await seed_account()
    refusal = await _use(db, a.account_id, b.deployment_id, b.token, 1)
    assert refusal is TokenRefusal.NOT_FOUND


async def test_token_text_is_deep_link_safe(db, seed_account):
    seeded = await seed_account()
    async with db.tenant(seeded.account_id) as s:
        generated = await tokens.create(
            s, seeded.account_id, deployment_id=seeded.deployment_id, kind="public"
        )
    assert 1 <= len(generated.token) <= 32
    assert generated.token.replace("-", "").replace("_", "").isalnum()
    with pytest.raises(IntegrityError, match="token_format"):
        async with db.tenant(seeded.account_id) as s:
            await tokens.create(
                s,
                seeded.account_id,
                deployment_id=seeded.deployment_id,
                kind="public",
                token="has space",
            )


async def _pending_timers(session: AsyncSession, account_id: int, run_id: int) -> list[int]:
    found = await session.scalars(
        select(Waiting.id).where(
            Waiting.account_id == account_id,
            Waiting.run_id == run_id,
            Waiting.status == WaitStatus.PENDING.value,
        )
    )
    return list(found)
