"""The plan limits the panel enforces, in one place: a bot may be connected (or enabled) and
a course created only while the account is under its plan's `max_bots` / `max_courses`
(storage/plans.py; active students are the runtime's to enforce)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.errors import conflict
from storage import plans

Counted = Literal["max_bots", "max_courses"]
_REFUSAL = {
    "max_bots": ("active bot", "active bots", "disable one or upgrade"),
    "max_courses": ("course", "courses", "delete one or upgrade"),
}


async def require_room(session: AsyncSession, account_id: int, limit_name: Counted) -> None:
    """409 when one more would pass the limit. The account row stays locked until the
    caller's transaction ends, so two concurrent creations cannot both pass the check."""
    account = await plans.lock_account(session, account_id)
    assert account is not None
    limits = plans.effective_limits(account)
    usage = await plans.usage(session, account_id)
    if limit_name == "max_bots":
        limit, used = limits.max_bots, usage.bots
    else:
        limit, used = limits.max_courses, usage.courses
    if limit is not None and used >= limit:
        one, many, advice = _REFUSAL[limit_name]
        raise conflict(
            f"the {account.plan} plan allows {limit} {one if limit == 1 else many}; {advice}",
            key=f"limit.{limit_name}",
            limit=limit_name,
            plan=account.plan,
            count=limit,
        )
