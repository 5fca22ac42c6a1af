"""The rules students feel: one active run per chat, token limits, timers stop with the run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from storage.admission_batch import stop_runs
from storage.models import Outbox, OutboxStatus, RunStatus, TokenKind
from storage.repositories import outbox, runs, tokens, waiting
from storage.repositories.tokens import TokenRefusal

pytestmark = pytest.mark.integration


def _run_args(seeded, chat_id: int) -> dict:
    return {
        "deployment_id": seeded.deployment_id,
        "course_version_id": seeded.version_id,
        "bot_id": seeded.bot_id,
        "chat_id": chat_id,
        "telegram_user_id": chat_id,
    }


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


async def test_new_run_in_a_chat_only_after_the_first_finished(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        assert await runs.start(s, account, **_run_args(seeded, seeded.chat_id)) is None
        active = await runs.get_active(s, account, seeded.bot_id, seeded.chat_id)
        assert active.id == seeded.run_id

    async with db.tenant(account) as s:
        finished = await runs.finish(s, account, seeded.run_id, RunStatus.COMPLETED)
        assert (finished.status, finished.is_active) == ("completed", False)
        assert finished.finished_at is not None
        assert await runs.finish(s, account, seeded.run_id, RunStatus.STOPPED) is None

    async with db.tenant(account) as s:
        second = await runs.start(s, account, **_run_args(seeded, seeded.chat_id))
        assert second is not None and second.id != seeded.run_id
        # Another chat of the same bot was never blocked by the first run.
        assert await runs.start(s, account, **_run_args(seeded, seeded.chat_id + 1)) is not None
        history = await runs.list_all(s, account, deployment_id=seeded.deployment_id)
    assert {r.id for r in history} >= {seeded.run_id, second.id}


async def test_finishing_a_run_cancels_its_pending_timers(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with db.tenant(account) as s:
        await waiting.add(s, account, run_id=seeded.run_id, wait_id="drip", due_at=soon)
        assert len(await waiting.list_pending(s, account, seeded.run_id)) == 2
        await runs.finish_active_in_chat(
            s, account, seeded.bot_id, seeded.chat_id, RunStatus.BLOCKED
        )
        assert await waiting.list_pending(s, account, seeded.run_id) == []
        assert (await runs.get(s, account, seeded.run_id)).status == "blocked"


async def test_a_new_course_drops_the_old_runs_unsent_messages(db, seed_account):
    """`/start` of another deployment stops the chat's run as every stop does: the student
    has moved on, so the old course's unsent messages go too; the chat's other messages
    (here a notice outside any run) stay."""
    seeded = await seed_account()  # its run has a pending timer and one unsent message
    account = seeded.account_id
    async with db.tenant(account) as s:
        notice = await outbox.enqueue(
            s, account, bot_id=seeded.bot_id, chat_id=seeded.chat_id, payload={"text": "Hi"}
        )
    connection = await db.connect_batch()
    try:
        await connection.begin([account])
        await stop_runs(connection, [(seeded.run_id, account)])
        await connection.commit()
    finally:
        await connection.close()
    async with db.tenant(account) as s:
        found = await s.execute(
            select(Outbox.id, Outbox.status).where(Outbox.account_id == account)
        )
        statuses = dict(found.all())
        assert statuses.pop(notice.id) == OutboxStatus.PENDING
        assert list(statuses.values()) == [OutboxStatus.CANCELLED]
        assert await waiting.list_pending(s, account, seeded.run_id) == []
        assert (await runs.get(s, account, seeded.run_id)).status == RunStatus.STOPPED


async def test_run_state_round_trips_as_json(db, seed_account):
    seeded = await seed_account()
    state = {"element": "q1", "answers": {"q0": [1, 2]}, "score": 3, "text": "Привет"}
    async with db.tenant(seeded.account_id) as s:
        assert await runs.save_state(s, seeded.account_id, seeded.run_id, state)
    async with db.tenant(seeded.account_id) as s:
        assert (await runs.get(s, seeded.account_id, seeded.run_id)).state == state


async def test_fifty_concurrent_starts_admit_exactly_max_uses(db, seed_account):
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        group = await tokens.create(
            s, account, deployment_id=seeded.deployment_id, kind=TokenKind.GROUP, max_uses=10
        )

    async def press_start(user: int) -> tokens.TokenUse:
        async with db.tenant(account) as s:
            result = await tokens.use(
                s,
                account,
                deployment_id=seeded.deployment_id,
                token=group.token,
                telegram_user_id=user,
            )
            await asyncio.sleep(0.01)  # hold the row lock a moment, like a real start would
            return result

    results = await asyncio.gather(*(press_start(1000 + i) for i in range(50)))
    assert sum(r.ok for r in results) == 10
    assert {r.refusal for r in results if not r.ok} == {TokenRefusal.EXHAUSTED}
    async with db.tenant(account) as s:
        assert (await tokens.get(s, account, group.id)).uses == 10


async def test_a_use_is_not_counted_when_the_start_rolls_back(db, seed_account):
    seeded = await seed_account()
    with pytest.raises(RuntimeError):
        async with db.tenant(seeded.account_id) as s:
            used = await tokens.use(
                s,
                seeded.account_id,
                deployment_id=seeded.deployment_id,
                token=seeded.token,
                telegram_user_id=1,
            )
            assert used.ok and used.token.uses == 1
            raise RuntimeError("run creation failed")
    async with db.tenant(seeded.account_id) as s:
        assert (await tokens.get(s, seeded.account_id, seeded.token_id)).uses == 0


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

    async def use(token: str, user: int) -> tokens.TokenUse:
        async with db.tenant(account) as s:
            return await tokens.use(
                s, account, deployment_id=deployment, token=token, telegram_user_id=user
            )

    assert (await use(expired.token, 1)).refusal is TokenRefusal.EXPIRED
    assert (await use(revoked.token, 1)).refusal is TokenRefusal.REVOKED
    assert (await use(personal.token, 8)).refusal is TokenRefusal.WRONG_USER
    assert (await use(personal.token, 7)).ok
    assert (await use("nope", 1)).refusal is TokenRefusal.NOT_FOUND
    assert (await use(single.token, 1)).ok
    assert (await use(single.token, 2)).refusal is TokenRefusal.EXHAUSTED


async def test_token_belongs_to_its_deployment(db, seed_account):
    a = await seed_account()
    b = await seed_account()
    async with db.tenant(a.account_id) as s:
        via_other_account = await tokens.use(
            s, a.account_id, deployment_id=b.deployment_id, token=b.token, telegram_user_id=1
        )
    assert via_other_account.refusal is TokenRefusal.NOT_FOUND


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
