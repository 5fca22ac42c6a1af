"""A request's course work, done by the worker processes (courses/workers.py).

The panel never parses, validates, exports or previews a course on the event loop: one
account's 30,000-element course would stall every bot and page of every account.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from courses.workers import CourseWorkBusyError
from panel_api.context import PanelContext
from panel_api.errors import ApiError

T = TypeVar("T")

BUSY = "too many course operations at once, try again in a moment"
CRASHED = "the course worker stopped while working on this; try again in a moment"


async def run(ctx: PanelContext, account_id: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker, within the account's share (429 when its queue is full;
    503 when the worker died, and the pool was replaced)."""
    try:
        return await ctx.workers.run(account_id, fn, *args)
    except CourseWorkBusyError:
        raise ApiError(429, BUSY, key="problem.busy") from None
    except BrokenProcessPool:
        raise ApiError(503, CRASHED, key="problem.worker_crashed") from None
