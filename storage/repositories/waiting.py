"""Durable timers. Claiming due ones across accounts is `storage.system.claim_due_waits`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Waiting, WaitStatus
from storage.repositories._common import get_scoped, now_param, rows_changed, table_of

_WAITING = table_of(Waiting)
_MARK_FIRED = (  # built once: it runs for every timer (see _common.now_param)
    update(_WAITING)
    .where(
        _WAITING.c.account_id == bindparam("of_account"),
        _WAITING.c.id == bindparam("waiting_id"),
        _WAITING.c.status == WaitStatus.PENDING.value,
    )
    .values(status=WaitStatus.FIRED.value, fired_at=now_param())
    .returning(_WAITING.c.wait_id, _WAITING.c.due_at, _WAITING.c.status)
)


@dataclass(frozen=True, slots=True)
class FiredWait:
    wait_id: str
    due_at: datetime
    status: str


async def add(
    session: AsyncSession,
    account_id: int,
    *,
    run_id: int,
    wait_id: str,
    due_at: datetime,
    goto: str | None = None,
) -> Waiting:
    row = Waiting(account_id=account_id, run_id=run_id, wait_id=wait_id, due_at=due_at, goto=goto)
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, account_id: int, waiting_id: int) -> Waiting | None:
    return await get_scoped(session, Waiting, account_id, Waiting.id == waiting_id)


async def list_pending(session: AsyncSession, account_id: int, run_id: int) -> list[Waiting]:
    stmt = (
        select(Waiting)
        .where(
            Waiting.account_id == account_id,
            Waiting.run_id == run_id,
            Waiting.status == WaitStatus.PENDING.value,
        )
        .order_by(Waiting.due_at, Waiting.id)
    )
    return list((await session.scalars(stmt)).all())


async def cancel(
    session: AsyncSession, account_id: int, run_id: int, wait_id: str | None = None
) -> int:
    """Cancel the run's pending timers (all of them, or those named `wait_id`); returns count."""
    stmt = update(Waiting).where(
        Waiting.account_id == account_id,
        Waiting.run_id == run_id,
        Waiting.status == WaitStatus.PENDING.value,
    )
    if wait_id is not None:
        stmt = stmt.where(Waiting.wait_id == wait_id)
    return await rows_changed(session, stmt.values(status=WaitStatus.CANCELLED.value))


async def cancel_one(session: AsyncSession, account_id: int, waiting_id: int) -> None:
    """Set one pending timer aside (the scheduler, when firing it fails)."""
    stmt = update(Waiting).where(
        Waiting.account_id == account_id,
        Waiting.id == waiting_id,
        Waiting.status == WaitStatus.PENDING.value,
    )
    await session.execute(stmt.values(status=WaitStatus.CANCELLED.value))


async def mark_fired(
    session: AsyncSession, account_id: int, waiting_id: int, *, now: datetime | None = None
) -> FiredWait | None:
    """Pending -> fired, once: None if it was cancelled or fired meanwhile. Core, not ORM:
    once per timer on the scheduler's hot path (docs/benchmarks.md)."""
    params = {"of_account": account_id, "waiting_id": waiting_id, "now": now}
    row = (await session.execute(_MARK_FIRED, params)).first()
    return None if row is None else FiredWait(row.wait_id, row.due_at, row.status)
