"""Reminders and teacher notifications end to end: real PostgreSQL and Redis, the runtime with
its sweeps, aiogram over HTTP against the fake Bot API. The clock the runtime reads is pushed
forward instead of waiting hours.

The runtime stamps a run's last step with the database's clock while the sweeps read the
test's clock; once the test clock is ahead, a student's fresh answer already looks old to
the sweep. The tests below say where that matters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from storage.models import MemberNotice, ReminderRule, RunReminder
from storage.repositories import outreach
from tests.integration import test_runtime_e2e as e2e
from tests.integration.runtime_support import (
    Autopilot,
    Course,
    active_run,
    latest_run,
    quiet,
    wrong_answer,
)
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_runtime_e2e import Stack, provision, provision_source

pytestmark = pytest.mark.integration

# The runtime as the end-to-end tests run it (the fake Bot API, Redis, the shiftable clock).
fake, redis, stack = e2e.fake, e2e.redis, e2e.stack

NUDGE = "Вы ещё здесь? Нажмите «Дальше», чтобы продолжить."
WAITING_COURSE = """
hello:
  type: message
  text: Hello
  button: Go

ask:
  type: input
  text: Your name?

bye:
  type: end
  text: Bye
"""

_users = iter(range(7_000_000, 8_000_000))


async def eventually(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await _value(check()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        await asyncio.sleep(0.05)


async def _value(result: object) -> object:
    return await result if asyncio.iscoroutine(result) else result


def texts_to(stack: Stack, course: Course, chat_id: int) -> list[str]:
    return [s.text or "" for s in stack.fake.sent_to(chat_id, course.fake_bot)]


async def set_account(db, account_id: int, column: str, value: object) -> None:
    async with db.tenant(account_id) as session:
        await session.execute(
            text(f"UPDATE account SET {column} = :value WHERE id = :id"),
            {"value": value, "id": account_id},
        )


async def add_rule(db, course: Course, **fields: object) -> int:
    async with db.tenant(course.account_id) as session:
        row = await outreach.add_rule(session, course.account_id, course.deployment_id, **fields)
        return row.id


async def looked_after(db, account_id: int, rule_id: int, moment) -> bool:
    """The reminder sweep has looked at the rule since `moment` (test clock)."""
    async with db.tenant(account_id) as session:
        rule = await session.get(ReminderRule, rule_id)
        await session.refresh(rule)
        return rule.sweep_at > moment


async def sweep_passes(stack: Stack, db, course: Course, rule_id: int) -> None:
    """Wait until the sweep has looked at the rule at the clock's current time, and whatever
    it queued was sent."""
    now = stack.clock()
    await eventually(lambda: looked_after(db, course.account_id, rule_id, now))


async def nudges_of(db, account_id: int, run_id: int) -> list[RunReminder]:
    async with db.tenant(account_id) as session:
        return list(
            await session.scalars(
                select(RunReminder).where(
                    RunReminder.account_id == account_id, RunReminder.run_id == run_id
                )
            )
        )


async def test_a_nudge_comes_after_the_wait_at_most_k_times_and_again_after_an_answer(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    course = await provision_source(stack, db, secret_box, account_id, WAITING_COURSE, "wait")
    # The teacher's text names the student: each nudge carries the student's own name.
    rule_id = await add_rule(
        db, course, after_minutes=60, max_count=2, text="{first_name}, " + NUDGE
    )
    user = next(_users)
    stack.fake.add_user(user, "Мария")
    nudge = "Мария, " + NUDGE
    stack.fake.push_start(course.fake_bot, user, course.payload)
    await eventually(lambda: texts_to(stack, course, user) == ["Hello"])
    run = await active_run(db, account_id, course.bot_id, user)
    assert run is not None

    # Half an hour of silence: too early.
    stack.clock.advance(timedelta(minutes=30))
    await sweep_passes(stack, db, course, rule_id)
    await quiet(stack.fake, user)
    assert texts_to(stack, course, user) == ["Hello"]

    # An hour: the first nudge; another hour: the second; then no more.
    stack.clock.advance(timedelta(minutes=31))
    await eventually(lambda: texts_to(stack, course, user).count(nudge) == 1)
    stack.clock.advance(timedelta(minutes=61))
    await eventually(lambda: texts_to(stack, course, user).count(nudge) == 2)
    for _ in range(2):
        stack.clock.advance(timedelta(minutes=61))
        await sweep_passes(stack, db, course, rule_id)
    await quiet(stack.fake, user)
    assert texts_to(stack, course, user) == ["Hello", nudge, nudge]
    [state] = await nudges_of(db, account_id, run.id)
    assert (state.sent, state.since) == (2, run.updated_at)

    # The student answers: the count starts again for the new silence (the test clock is
    # hours ahead of the answer's stamp, so the sweep finds it quiet long enough at its
    # next look).
    hello = stack.fake.sent_to(user, course.fake_bot)[0]
    stack.fake.press_button(course.fake_bot, user, hello, hello.buttons[0]["callback_data"])
    await eventually(lambda: "Your name?" in texts_to(stack, course, user))
    stack.clock.advance(timedelta(minutes=2))  # the rule's next look
    await eventually(lambda: texts_to(stack, course, user).count(nudge) == 3)
    moved = await active_run(db, account_id, course.bot_id, user)
    assert moved is not None and moved.updated_at > run.updated_at
    await eventually(
        lambda: _sent_for(db, account_id, run.id, moved.updated_at, expected=1), timeout=5
    )


async def _sent_for(db, account_id: int, run_id: int, since, *, expected: int) -> bool:
    states = await nudges_of(db, account_id, run_id)
    return [(s.since, s.sent) for s in states] == [(since, expected)]


async def test_no_nudge_during_quiet_hours_in_the_accounts_time_zone(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    await set_account(db, account_id, "time_zone", "Asia/Tokyo")
    course = await provision_source(stack, db, secret_box, account_id, WAITING_COURSE, "quiet")
    # Quiet from 30 minutes before the moment the nudge falls due, for an hour and a half
    # (Tokyo time; it may span midnight).
    from zoneinfo import ZoneInfo

    due = (stack.clock() + timedelta(minutes=61)).astimezone(ZoneInfo("Asia/Tokyo"))
    minute = due.hour * 60 + due.minute
    start, end = (minute - 30) % 1440, (minute + 60) % 1440
    rule_id = await add_rule(
        db, course, after_minutes=60, max_count=1, text=NUDGE, quiet_start=start, quiet_end=end
    )
    user = next(_users)
    stack.fake.push_start(course.fake_bot, user, course.payload)
    await eventually(lambda: texts_to(stack, course, user) == ["Hello"])

    stack.clock.advance(timedelta(minutes=61))
    await sweep_passes(stack, db, course, rule_id)
    stack.clock.advance(timedelta(minutes=30))
    await sweep_passes(stack, db, course, rule_id)
    await quiet(stack.fake, user)
    assert NUDGE not in texts_to(stack, course, user)

    stack.clock.advance(timedelta(minutes=31))  # the quiet hours are over
    await eventually(lambda: texts_to(stack, course, user) == ["Hello", NUDGE])


# ---- teacher notifications -----------------------------------------------------------------


async def _member(db, account_id: int) -> int:
    async with db.tenant(account_id) as session:
        return int(await session.scalar(text("SELECT telegram_user_id FROM account_member")))


async def opt_in(db, course: Course, member: int, **fields: object) -> None:
    async with db.tenant(course.account_id) as session:
        await outreach.set_notification(
            session, course.account_id, course.deployment_id, member, **fields
        )


async def test_a_member_hears_when_a_student_finishes_and_fails_a_test(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    member = await _member(db, account_id)
    course = await provision(stack, db, secret_box, account_id, "scored_exam.yaml")
    await opt_in(db, course, member, on_finish=True, on_fail=True, fail_below=80)
    user = next(_users)
    stack.fake.add_user(user, "Maria")
    pilot = Autopilot(
        stack.fake, db, course, user, clock=stack.clock, pick=wrong_answer, text_answer="wrong"
    )
    await pilot.start()
    finished = await pilot.play()
    assert finished.status == "completed"

    stack.clock.advance(timedelta(minutes=2))  # the opt-in's next look
    told = lambda: texts_to(stack, course, member)  # noqa: E731
    await eventually(lambda: any("прошёл(а) курс" in t for t in told()))
    await eventually(lambda: any("набрал(а) 0%" in t for t in told()))
    assert all("Maria" in t for t in told())
    count = len(told())
    # Told once: later looks find nothing new.
    stack.clock.advance(timedelta(minutes=2))
    await _notices_looked(stack, db, course)
    await quiet(stack.fake, member)
    assert len(told()) == count
    # The student never got any of it.
    assert not any("Maria" in t for t in texts_to(stack, course, user))


async def _notices_looked(stack: Stack, db, course: Course) -> None:
    now = stack.clock()

    async def looked() -> bool:
        async with db.tenant(course.account_id) as session:
            at = await session.scalar(text("SELECT sweep_at FROM member_notification"))
            return at > now

    await eventually(looked)


async def test_a_stuck_student_is_told_once_and_a_refusing_chat_shows_on_the_settings(
    stack, db, secret_box, make_account
):
    account_id = await make_account()
    await set_account(db, account_id, "stuck_after_minutes", 60)
    member = await _member(db, account_id)
    course = await provision_source(stack, db, secret_box, account_id, WAITING_COURSE, "stuck")
    await opt_in(db, course, member, on_stuck=True)
    user = next(_users)
    stack.fake.add_user(user, "Pavel")
    stack.fake.push_start(course.fake_bot, user, course.payload)
    await eventually(lambda: texts_to(stack, course, user) == ["Hello"])

    stack.clock.advance(timedelta(minutes=61))
    await eventually(lambda: any("Pavel" in t for t in texts_to(stack, course, member)))
    for _ in range(2):
        stack.clock.advance(timedelta(minutes=2))
        await _notices_looked(stack, db, course)
    await quiet(stack.fake, member)
    assert len([t for t in texts_to(stack, course, member) if "Pavel" in t]) == 1
    async with db.tenant(account_id) as session:
        kinds = list(await session.scalars(select(MemberNotice.kind)))
    assert kinds == ["stuck"]

    # A second student gets stuck, but the member has blocked the bot (or never pressed
    # Start): Telegram answers 403, and the member's settings say so.
    stack.fake.block_user(course.fake_bot, member)
    other = next(_users)
    stack.fake.push_start(course.fake_bot, other, course.payload)
    await eventually(lambda: texts_to(stack, course, other) == ["Hello"])
    stack.clock.advance(timedelta(minutes=61))
    ctx = panel_context(db, secret_box)
    url = f"/api/v1/accounts/{account_id}/deployments/{course.deployment_id}/notifications/me"
    async with panel_client(ctx) as client:
        headers = await user_headers(ctx, member)

        async def refused() -> bool:
            answer = await client.get(url, headers=headers)
            assert answer.status_code == 200, answer.text
            return bool(answer.json()["refused"])

        await eventually(refused)
        # Saving again (after pressing Start) clears it.
        stack.fake.unblock_user(course.fake_bot, member)
        saved = await client.put(url, json={"on_stuck": True}, headers=headers)
        assert saved.status_code == 200 and saved.json()["refused"] is False


async def test_a_daily_digest_counts_and_names_the_students(stack, db, secret_box, make_account):
    account_id = await make_account()
    await set_account(db, account_id, "stuck_after_minutes", 60)
    member = await _member(db, account_id)
    course = await provision_source(stack, db, secret_box, account_id, WAITING_COURSE, "digest")
    hour = (stack.clock() + timedelta(hours=23)).hour  # UTC account
    await opt_in(db, course, member, on_finish=True, on_stuck=True, digest_hour=hour)
    done, idle = next(_users), next(_users)
    stack.fake.add_user(done, "Olga")
    stack.fake.add_user(idle, "Ivan")
    for user in (done, idle):
        stack.fake.push_start(course.fake_bot, user, course.payload)
        await eventually(lambda user=user: texts_to(stack, course, user) == ["Hello"])
    hello = stack.fake.sent_to(done, course.fake_bot)[0]
    stack.fake.press_button(course.fake_bot, done, hello, hello.buttons[0]["callback_data"])
    await eventually(lambda: "Your name?" in texts_to(stack, course, done))
    stack.fake.push_text(course.fake_bot, done, "Olga")
    await eventually(lambda: "Bye" in texts_to(stack, course, done))
    run = await latest_run(db, account_id, done)
    assert run is not None and run.status == "completed"
    # Nothing is told as it happens in digest mode.
    stack.clock.advance(timedelta(minutes=2))
    await _notices_looked(stack, db, course)
    await quiet(stack.fake, member, settle_s=0.3)
    assert texts_to(stack, course, member) == []

    stack.clock.advance(timedelta(hours=23))
    await eventually(lambda: len(texts_to(stack, course, member)) == 1)
    [digest] = texts_to(stack, course, member)
    assert "Прошли курс: 1 — Olga" in digest
    assert "Застряли сейчас: 1 — Ivan" in digest
    # One a day.
    stack.clock.advance(timedelta(minutes=2))
    await _notices_looked(stack, db, course)
    await quiet(stack.fake, member, settle_s=0.3)
    assert len(texts_to(stack, course, member)) == 1
