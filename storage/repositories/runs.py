"""Runs: one student's pass through a pinned course version in one chat.

At most one active run per (bot, chat) is a database rule (partial unique index); `start`
turns a clash into `None` instead of an exception so the runtime can ask the student what
to do with the run they already have.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox, OutboxStatus, Run, RunStatus, Waiting, WaitStatus
from storage.repositories._common import get_scoped, rows_changed, table_of

_UTM_KEYS = ("source", "medium", "campaign", "content", "term")

# Built once: these run for every update (see _common.now_param).
_ACTIVE_IN_CHAT: Select[Run] = select(Run).where(
    Run.account_id == bindparam("account_id"),
    Run.bot_id == bindparam("bot_id"),
    Run.chat_id == bindparam("chat_id"),
    Run.is_active,
)
_ACTIVE_IN_CHAT_LOCKED = _ACTIVE_IN_CHAT.with_for_update()
_LOCKED_BY_ID: Select[Run] = (
    select(Run)
    .where(Run.account_id == bindparam("account_id"), Run.id == bindparam("run_id"))
    .with_for_update()
)
_RUN = table_of(Run)
_SAVE_STATE = (  # an UPDATE's own parameters must not be named as its columns
    update(_RUN)
    .where(_RUN.c.account_id == bindparam("of_account"), _RUN.c.id == bindparam("run_id"))
    .values(state=bindparam("new_state"), updated_at=func.now())
)


async def start(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    course_version_id: int,
    bot_id: int,
    chat_id: int,
    telegram_user_id: int,
    participant_id: int | None = None,
    token_id: int | None = None,
    state: Mapping[str, Any] | None = None,
    utm: Mapping[str, str | None] | None = None,
) -> Run | None:
    """Insert an active run; None if this (bot, chat) already has one."""
    utm = utm or {}
    stmt = (
        insert(Run)
        .values(
            account_id=account_id,
            deployment_id=deployment_id,
            course_version_id=course_version_id,
            bot_id=bot_id,
            chat_id=chat_id,
            telegram_user_id=telegram_user_id,
            participant_id=participant_id,
            token_id=token_id,
            state=dict(state or {}),
            **{f"utm_{key}": utm.get(key) for key in _UTM_KEYS},
        )
        .on_conflict_do_nothing(
            index_elements=[Run.bot_id, Run.chat_id], index_where=text("is_active")
        )
        .returning(Run)
    )
    return (await session.scalars(stmt)).one_or_none()


async def get(session: AsyncSession, account_id: int, run_id: int) -> Run | None:
    return await get_scoped(session, Run, account_id, Run.id == run_id)


async def get_active(
    session: AsyncSession, account_id: int, bot_id: int, chat_id: int, *, lock: bool = False
) -> Run | None:
    """The chat's active run; `lock` holds it FOR UPDATE until the transaction ends."""
    stmt = _ACTIVE_IN_CHAT_LOCKED if lock else _ACTIVE_IN_CHAT
    params = {"account_id": account_id, "bot_id": bot_id, "chat_id": chat_id}
    return (await session.scalars(stmt, params)).one_or_none()


async def list_all(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int | None = None,
    status: RunStatus | str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Run]:
    stmt = select(Run).where(Run.account_id == account_id)
    if deployment_id is not None:
        stmt = stmt.where(Run.deployment_id == deployment_id)
    if status is not None:
        stmt = stmt.where(Run.status == RunStatus(status).value)
    stmt = stmt.order_by(Run.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())


async def save_state(
    session: AsyncSession, account_id: int, run_id: int, state: Mapping[str, Any]
) -> bool:
    # Core, not ORM: once per step (docs/benchmarks.md). A loaded Run keeps its old `state`
    # unless the caller sets it (transitions does, with set_committed_value).
    params = {"of_account": account_id, "run_id": run_id, "new_state": dict(state)}
    return await rows_changed(session, _SAVE_STATE, params) > 0


async def finish(
    session: AsyncSession,
    account_id: int,
    run_id: int,
    status: RunStatus | str,
    *,
    state: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    note: str | None = None,
) -> Run | None:
    """End an active run (completed/stopped/blocked/declined/halted) and cancel its pending
    timers; `note` says why, for the teacher (the engine's reason for `halted`).

    Returns None if the run was not active (already finished by a concurrent event).
    """
    status = RunStatus(status)
    if status is RunStatus.ACTIVE:
        raise ValueError("finish() needs a final status, not 'active'")
    values: dict[str, Any] = {
        "status": status.value,
        "is_active": False,
        "finished_at": now or func.now(),
        "note": note,
    }
    if state is not None:
        values["state"] = dict(state)
    stmt = (
        update(Run)
        .where(Run.account_id == account_id, Run.id == run_id, Run.is_active)
        .values(**values)
        .returning(Run)
    )
    run = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
    if run is not None:
        await session.execute(
            update(Waiting)
            .where(
                Waiting.account_id == account_id,
                Waiting.run_id == run_id,
                Waiting.status == WaitStatus.PENDING.value,
            )
            .values(status=WaitStatus.CANCELLED.value)
        )
    return run


async def stop(
    session: AsyncSession, account_id: int, run_id: int, *, now: datetime | None = None
) -> Run | None:
    """End an active run as `stopped` (a teacher, a ban, a payment): its timers are cancelled
    and its unsent messages dropped (`cancelled`), so the student hears nothing more of it
    (DESIGN §10). Delivery learns of the drop when it records the message it was sending
    (storage/batch.py `_MARK_SENT`), so that one message may still arrive.

    A run that completes keeps its outbox: its last messages are queued by the very step
    that finishes it. None if the run was not active.
    """
    run = await finish(session, account_id, run_id, RunStatus.STOPPED, now=now)
    if run is not None:
        await session.execute(
            update(Outbox)
            .where(  # the chat's pending rows are indexed (ix_outbox_chat_pending)
                Outbox.account_id == account_id,
                Outbox.bot_id == run.bot_id,
                Outbox.chat_id == run.chat_id,
                Outbox.status == OutboxStatus.PENDING.value,
                Outbox.run_id == run_id,
            )
            .values(status=OutboxStatus.CANCELLED.value)
        )
    return run


async def finish_active_in_chat(
    session: AsyncSession,
    account_id: int,
    bot_id: int,
    chat_id: int,
    status: RunStatus | str,
    *,
    now: datetime | None = None,
) -> Run | None:
    """E.g. mark the chat's run `blocked` when Telegram answers 403."""
    run = await get_active(session, account_id, bot_id, chat_id, lock=True)
    if run is None:
        return None
    return await finish(session, account_id, run.id, status, now=now)


async def lock(session: AsyncSession, account_id: int, run_id: int) -> Run | None:
    """The run, locked FOR UPDATE until the transaction ends (timers, payments)."""
    params = {"account_id": account_id, "run_id": run_id}
    return (await session.scalars(_LOCKED_BY_ID, params)).one_or_none()
