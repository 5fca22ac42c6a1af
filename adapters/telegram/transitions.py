"""Advance one run by one event and make the result durable, in the caller's transaction.

`step_plan.plan_step` decides the rows (the new state, conversation lines, timers, the end
of the run, the outbox rows for everything that must reach Telegram or the LLM); this writes
them one run at a time through the repositories, for the paths that handle one run in a
transaction (timers, enrollment, payments, LLM results). The journal writes the same plans
for many chats at once. Because all of a step commits together, a crash either loses the
whole step (the update is replayed from the inbox) or none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from adapters.observability.logs import bind_log_ids
from adapters.telegram.step_plan import StepWrites, plan_step
from engine import step
from engine.events import Event
from engine.model import Course
from engine.state import RunState
from storage.models import Run
from storage.repositories import conversation, outbox, runs, waiting


class RunPosition(NamedTuple):
    """Where a run stands after a step (mirrored into the bot's FSM storage)."""

    run_id: int
    element: str | None
    finished: bool


@dataclass(frozen=True, slots=True)
class StepOutcome:
    state: RunState
    finished: bool
    queued: int  # outbox rows written (delivery re-reads the outbox only when this is > 0)


def load_state(stored: dict[str, Any]) -> RunState:
    """A run row's `state` column as the engine's RunState (`{}`: not started yet)."""
    return RunState.from_dict(stored) if stored else RunState.new()


async def apply_event(
    session: AsyncSession,
    run: Run,
    course: Course,
    event: Event,
    now: datetime,
) -> StepOutcome:
    """step() + persistence. `run` must be locked (FOR UPDATE) by the caller."""
    state, effects = step(course, load_state(run.state), event, now)
    return await _persist(session, run, state, plan_step(state, effects))


async def _persist(
    session: AsyncSession, run: Run, state: RunState, writes: StepWrites
) -> StepOutcome:
    account_id = run.account_id
    bind_log_ids(run_id=run.id)  # the caller's context (chat worker, timer) scopes it
    if writes.cancel_waits:
        await waiting.cancel(session, account_id, run.id)
    for timer in writes.schedules:
        await waiting.add(
            session,
            account_id,
            run_id=run.id,
            wait_id=timer.wait_id,
            due_at=timer.due_at,
            goto=timer.goto,
        )
    # One INSERT per table for the whole step instead of one per line and message.
    await conversation.append_many(session, account_id, run.id, writes.lines)
    await outbox.enqueue_many(
        session,
        account_id,
        bot_id=run.bot_id,
        chat_id=run.chat_id,
        run_id=run.id,
        payloads=writes.messages,
    )
    if writes.finish_status is not None:
        await runs.finish(
            session,
            account_id,
            run.id,
            writes.finish_status,
            state=writes.state,
            note=writes.finish_note,
        )
    else:
        await runs.save_state(session, account_id, run.id, writes.state)
        # The loaded run now matches the row (a second event in this transaction reads it).
        set_committed_value(run, "state", writes.state)
    return StepOutcome(state, writes.finish_status is not None, len(writes.messages))
