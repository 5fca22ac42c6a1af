"""Advance one run by one event and make the result durable, in the caller's transaction.

This is the only place that turns engine effects into rows: the new state, conversation
lines (`Record`), timers (`Schedule` / `CancelWaits`), the end of the run (`Finish`) and the
outbox rows for everything that must reach Telegram or the LLM. Because all of it commits
together, a crash either loses the whole step (the update is replayed from the inbox) or
none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from adapters.observability.logs import bind_log_ids
from adapters.telegram import effect_codec
from engine import step
from engine.effects import CancelWaits, Effect, Finish, Record, Schedule
from engine.events import Event
from engine.model import Course
from engine.state import RunState
from storage.models import Run, RunStatus
from storage.repositories import conversation, outbox, runs, waiting


@dataclass(frozen=True, slots=True)
class RunPosition:
    """Where a run stands after a step (mirrored into the bot's FSM storage)."""

    run_id: int
    element: str | None
    finished: bool


@dataclass(frozen=True, slots=True)
class StepOutcome:
    state: RunState
    finished: bool
    queued: int  # outbox rows written (delivery re-reads the outbox only when this is > 0)


def load_state(run: Run) -> RunState:
    return RunState.from_dict(run.state) if run.state else RunState.new()


async def apply_event(
    session: AsyncSession,
    run: Run,
    course: Course,
    event: Event,
    now: datetime,
) -> StepOutcome:
    """step() + persistence. `run` must be locked (FOR UPDATE) by the caller."""
    state, effects = step(course, load_state(run), event, now)
    return await _persist(session, run, state, effects)


async def _persist(
    session: AsyncSession, run: Run, state: RunState, effects: list[Effect]
) -> StepOutcome:
    account_id = run.account_id
    bind_log_ids(run_id=run.id)  # the caller's context (chat worker, timer) scopes it
    lines: list[conversation.Line] = []
    messages: list[dict[str, object]] = []
    finish_status: str | None = None
    for effect in effects:
        if isinstance(effect, Record):
            lines.append(
                conversation.Line(
                    effect.element_id, effect.role, effect.text, effect.score, effect.maxscore
                )
            )
        elif isinstance(effect, Schedule):
            await waiting.add(
                session,
                account_id,
                run_id=run.id,
                wait_id=effect.wait_id,
                due_at=effect.due_at,
                goto=effect.goto,
            )
        elif isinstance(effect, CancelWaits):
            await waiting.cancel(session, account_id, run.id)
        elif isinstance(effect, Finish):
            finish_status = (
                RunStatus.COMPLETED.value if effect.status == "completed" else RunStatus.STOPPED
            )
        elif effect_codec.is_outgoing(effect):
            messages.append(effect_codec.encode(effect))
    # One INSERT per table for the whole step instead of one per line and message.
    await conversation.append_many(session, account_id, run.id, lines)
    await outbox.enqueue_many(
        session,
        account_id,
        bot_id=run.bot_id,
        chat_id=run.chat_id,
        run_id=run.id,
        payloads=messages,
    )
    state_json = state.to_dict()
    if finish_status is not None:
        await runs.finish(session, account_id, run.id, finish_status, state=state_json)
    else:
        await runs.save_state(session, account_id, run.id, state_json)
        # The loaded run now matches the row (a second event in this transaction reads it).
        set_committed_value(run, "state", state_json)
    return StepOutcome(state, finish_status is not None, len(messages))
