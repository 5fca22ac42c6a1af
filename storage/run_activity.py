"""When a run counts as stuck, and which time zones an account may have: one rule each.

The panel's lists and dashboard, broadcast audiences, reminders and teacher notifications
all ask "is this student stuck?"; if each wrote its own condition they would disagree about
the same student. A run is stuck when it is active, waits for no timer (a `delay` is the
course waiting, not the student), and its last step is older than the account's
`stuck_after_minutes`.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import ColumnElement, and_, exists, func, select

from storage.models import Account, Run, Waiting, WaitStatus


def stuck_since(now: datetime) -> ColumnElement[datetime]:
    """The moment before which a run of its account is stuck (correlated to `run`)."""
    minutes = (
        select(Account.stuck_after_minutes)
        .where(Account.id == Run.account_id)
        .correlate(Run)
        .scalar_subquery()
    )
    return now - func.make_interval(0, 0, 0, 0, 0, minutes)


def waits_for_a_timer() -> ColumnElement[bool]:
    return exists().where(
        Waiting.account_id == Run.account_id,
        Waiting.run_id == Run.id,
        Waiting.status == WaitStatus.PENDING.value,
    )


def is_stuck(now: datetime) -> ColumnElement[bool]:
    """SQL condition on `run`: the student has been silent too long where the course waits
    for them."""
    return and_(Run.is_active, Run.updated_at < stuck_since(now), ~waits_for_a_timer())


@cache
def _known_zones() -> frozenset[str]:
    # available_timezones() walks the zone files on every call.
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """An IANA zone name ("Europe/Moscow"); offsets like "+03" are refused because they
    ignore daylight saving. The zones come from the `tzdata` package where the system has
    none (slim container images)."""
    return name in _known_zones()
