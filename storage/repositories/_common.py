"""Small helpers shared by the repositories (keyword-only partial updates, scoped lookups,
row counts)."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CursorResult, Executable, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base

M = TypeVar("M", bound=Base)


class Unset(enum.Enum):
    """Marks an update argument that was not given (None is a real value: "clear it")."""

    UNSET = enum.auto()


UNSET = Unset.UNSET


def given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not UNSET}


async def get_scoped(
    session: AsyncSession, model: type[M], account_id: int, *criteria: ColumnElement[bool]
) -> M | None:
    # Every tenant model has `account_id` (and `id`); Base itself does not.
    stmt = select(model).where(model.account_id == account_id, *criteria)  # type: ignore[attr-defined]
    return (await session.scalars(stmt)).one_or_none()


async def update_scoped(
    session: AsyncSession,
    model: type[M],
    account_id: int,
    row_id: int,
    values: dict[str, Any],
) -> M | None:
    """UPDATE one row of `account_id` and return it fresh; None when it does not exist."""
    if not values:
        return await get_scoped(session, model, account_id, model.id == row_id)  # type: ignore[attr-defined]
    stmt = (
        update(model)
        .where(model.account_id == account_id, model.id == row_id)  # type: ignore[attr-defined]
        .values(**values)
        .returning(model)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one_or_none()


async def rows_changed(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed. SQLAlchemy types `execute` as a
    plain Result; a data-changing statement gives a CursorResult, which holds the count."""
    result = await session.execute(statement, params)
    assert isinstance(result, CursorResult)
    return result.rowcount
