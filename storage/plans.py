"""Plan limits: how many bots, courses and active students an account may have.

A plan names default limits; `account.limits` (set by a platform super-admin) overrides any of
them per account, e.g. a school on `free` granted a second bot. `None` means unlimited. The
panel enforces bots and courses when they are created; the runtime enforces active students
when a new run starts (storage/admission_batch.py `_LOCK_ACCOUNTS_USAGE`, against
`max_active_students`); `usage` shows the counts in the panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Bot, Course, Run


@dataclass(frozen=True)
class Limits:
    max_bots: int | None
    max_courses: int | None
    max_active_students: int | None


@dataclass(frozen=True)
class Usage:
    bots: int
    courses: int
    active_students: int


PLANS: Mapping[str, Limits] = {
    "free": Limits(max_bots=1, max_courses=3, max_active_students=100),
    "pro": Limits(max_bots=5, max_courses=50, max_active_students=5_000),
    "business": Limits(max_bots=50, max_courses=1_000, max_active_students=100_000),
    "unlimited": Limits(max_bots=None, max_courses=None, max_active_students=None),
}
LIMIT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Limits))


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, int | None]:
    """Validate a per-account override mapping; ValueError names the offending key."""
    clean: dict[str, int | None] = {}
    for key, value in overrides.items():
        if key not in LIMIT_NAMES:
            raise ValueError(f"unknown limit {key!r}; known: {', '.join(LIMIT_NAMES)}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"limit {key!r} must be a whole number or null")
        if value is not None and value < 0:
            raise ValueError(f"limit {key!r} must not be negative")
        clean[key] = value
    return clean


def effective_limits(account: Account) -> Limits:
    """The plan's limits with the account's overrides applied (unknown plan: `free`)."""
    return limits_of(account.plan, account.limits)


def limits_of(plan: str, overrides: Mapping[str, Any] | None) -> Limits:
    base = PLANS.get(plan, PLANS["free"])
    known = {k: v for k, v in (overrides or {}).items() if k in LIMIT_NAMES}
    return replace(base, **known)


async def usage(session: AsyncSession, account_id: int) -> Usage:
    """Current counts: active bots, courses, distinct students with an active run."""
    bots = select(func.count()).where(Bot.account_id == account_id, Bot.active)
    courses = select(func.count()).where(Course.account_id == account_id)
    students = select(func.count(func.distinct(Run.telegram_user_id))).where(
        Run.account_id == account_id, Run.is_active
    )
    row = (
        await session.execute(
            select(bots.scalar_subquery(), courses.scalar_subquery(), students.scalar_subquery())
        )
    ).one()
    return Usage(bots=row[0], courses=row[1], active_students=row[2])


async def lock_account(session: AsyncSession, account_id: int) -> Account | None:
    """Lock the account row so that two concurrent creations cannot both pass a limit check."""
    stmt = select(Account).where(Account.id == account_id).with_for_update()
    return (await session.scalars(stmt)).one_or_none()
