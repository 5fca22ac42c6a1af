"""Rows that tests seed directly, in a tenant session.

The runtime changes runs, tokens, participants, timers, messages and conversations through
the journal alone (storage/batch.py, storage/admission_batch.py), so the repositories have
no functions to write them one by one. A test that needs such rows in some state (a
history for the panel to show, a timer to fire) inserts them here, column by column.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Base,
    Conversation,
    EnrollmentToken,
    Outbox,
    Participant,
    ProcessedUpdate,
    Run,
    RunStatus,
    Waiting,
    WaitStatus,
)

Row = TypeVar("Row", bound=Base)


async def _insert(session: AsyncSession, model: type[Row], **values: Any) -> Row:
    stmt = insert(model).values(**values).returning(model)
    return (await session.scalars(stmt)).one()


async def run(
    session: AsyncSession,
    account_id: int,
    *,
    state: Mapping[str, Any] | None = None,
    utm: Mapping[str, str | None] | None = None,
    **columns: Any,
) -> Run:
    """An active run with these columns (`utm`: source, medium... without `utm_`)."""
    utm_columns = {f"utm_{key}": value for key, value in (utm or {}).items()}
    return await _insert(
        session, Run, account_id=account_id, state=dict(state or {}), **utm_columns, **columns
    )


async def finish_run(
    session: AsyncSession, account_id: int, run_id: int, status: RunStatus | str
) -> None:
    """End the run with a final status (its timers and messages are left as they are)."""
    await session.execute(
        update(Run)
        .where(Run.account_id == account_id, Run.id == run_id)
        .values(status=RunStatus(status).value, is_active=False, finished_at=func.now())
    )


async def participant(session: AsyncSession, account_id: int, **columns: Any) -> Participant:
    return await _insert(session, Participant, account_id=account_id, **columns)


async def line(session: AsyncSession, account_id: int, **columns: Any) -> Conversation:
    """A line of a run's conversation."""
    return await _insert(session, Conversation, account_id=account_id, **columns)


async def timer(
    session: AsyncSession, account_id: int, *, due_at: datetime, **columns: Any
) -> Waiting:
    """A pending timer of a run."""
    return await _insert(session, Waiting, account_id=account_id, due_at=due_at, **columns)


async def cancel_timers(session: AsyncSession, account_id: int, run_id: int) -> None:
    """Cancel the run's pending timers (a test tidying up after itself)."""
    await session.execute(
        update(Waiting)
        .where(
            Waiting.account_id == account_id,
            Waiting.run_id == run_id,
            Waiting.status == WaitStatus.PENDING.value,
        )
        .values(status=WaitStatus.CANCELLED.value)
    )


async def message(
    session: AsyncSession, account_id: int, *, payload: Mapping[str, Any], **columns: Any
) -> Outbox:
    """A pending outbox row."""
    return await _insert(session, Outbox, account_id=account_id, payload=dict(payload), **columns)


async def update_row(
    session: AsyncSession, account_id: int, *, payload: Mapping[str, Any], **columns: Any
) -> ProcessedUpdate:
    """A stored, unprocessed Telegram update."""
    return await _insert(
        session, ProcessedUpdate, account_id=account_id, payload=dict(payload), **columns
    )


async def token_use(session: AsyncSession, account_id: int, token_id: int) -> EnrollmentToken:
    """Count one use of the token (as a start that passed it did)."""
    stmt = (
        update(EnrollmentToken)
        .where(EnrollmentToken.account_id == account_id, EnrollmentToken.id == token_id)
        .values(uses=EnrollmentToken.uses + 1)
        .returning(EnrollmentToken)
    )
    return (await session.scalars(stmt)).one()
