"""The database lane: handle the oldest stored update of one chat, read from the inbox.

The fast lane (adapters/telegram/journal.py) handles updates it still has in memory; this
lane takes `/start` (enrollment) and whatever the inbox holds that memory does not (work
left by a crash or by another runner). Everything happens in one tenant transaction: the
update is marked processed together with the state change it caused, so a crash replays it
exactly once. A poison update (one that makes our code fail) is rolled back, logged, and
marked processed with its error in a transaction of its own, so it can never wedge its
chat. When the database itself fails the update is left unprocessed, to be handled again
later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.observability.metrics import count_handled
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.delivery import DELIVERY_BATCH
from adapters.telegram.enrollment import Enrollment, HostedBot
from adapters.telegram.journal import OutboxRow
from adapters.telegram.step_plan import Advance, Reply, react
from adapters.telegram.transitions import RunPosition, apply_event
from adapters.telegram.updates import StartRequest, translate
from storage.db import Database, is_transient_failure
from storage.models import Outbox, ProcessedUpdate
from storage.repositories import inbox, outbox, runs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """One processed update; `callback_query_id` still needs answering (button spinner)."""

    update_id: int
    callback_query_id: str | None = None
    position: RunPosition | None = None
    more: bool = True  # False: no other update of the chat was waiting when this one began
    # The chat's unsent messages as of the commit (what this update queued, and anything
    # older): delivery starts from these instead of reading them again.
    pending: Sequence[OutboxRow] = field(default_factory=list)


class UpdateHandler:
    def __init__(
        self,
        db: Database,
        courses: CourseCache,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._courses = courses
        self._enrollment = Enrollment(courses)
        self._clock = clock

    async def handle_next(self, bot: HostedBot, chat_id: int | None) -> Handled | None:
        """Process the chat's oldest unprocessed update; None when there is none."""
        started = time.perf_counter()
        account_id = bot.account_id
        taken: tuple[int, int] | None = None  # (inbox id, update id) once read
        try:
            async with self._db.tenant(account_id) as session:
                rows = await inbox.oldest_for_chat(
                    session, account_id, bot.bot_id, chat_id, limit=2
                )
                if not rows:
                    return None
                row, more = rows[0], len(rows) > 1
                taken = (row.id, row.update_id)
                handled = await self._handle(session, bot, row)
                await inbox.mark_processed(session, account_id, row.id, now=self._clock())
                pending = await self._pending(session, bot, chat_id)
        except Exception as exc:
            if taken is None or is_transient_failure(exc):
                raise
            log.exception("bot %s: update %s failed", bot.bot_id, taken[1])
            async with self._db.tenant(account_id) as session:
                error = f"{type(exc).__name__}: {exc}"[:500]
                await inbox.mark_processed(
                    session, account_id, taken[0], error=error, now=self._clock()
                )
                pending = await self._pending(session, bot, chat_id)
            count_handled(account_id, ok=False, seconds=time.perf_counter() - started)
            return Handled(taken[1], more=more, pending=pending)
        count_handled(account_id, ok=True, seconds=time.perf_counter() - started)
        return replace(handled, more=more, pending=pending)

    async def _pending(
        self, session: AsyncSession, bot: HostedBot, chat_id: int | None
    ) -> list[Outbox]:
        if chat_id is None:
            return []
        return await outbox.pending_for_chat(
            session, bot.account_id, bot.bot_id, chat_id, limit=DELIVERY_BATCH
        )

    async def _handle(self, session: AsyncSession, bot: HostedBot, row: ProcessedUpdate) -> Handled:
        inbound = translate(Update.model_validate(row.payload))
        if inbound is None:
            return Handled(row.update_id)
        now = self._clock()
        if isinstance(inbound.action, StartRequest):
            started = await self._enrollment.start(session, bot, inbound, inbound.action, now)
            return Handled(row.update_id, inbound.callback_query_id, started)
        run = await runs.get_active(session, bot.account_id, bot.bot_id, inbound.chat_id, lock=True)
        reaction = react(inbound, run is not None)
        if isinstance(reaction, Reply):
            await outbox.enqueue_many(
                session,
                bot.account_id,
                bot_id=bot.bot_id,
                chat_id=inbound.chat_id,
                run_id=run.id if run is not None and reaction.run_bound else None,
                payloads=reaction.messages,
            )
        if not isinstance(reaction, Advance) or run is None:
            return Handled(row.update_id, inbound.callback_query_id)
        course = await self._courses.get(session, bot.account_id, run.course_version_id)
        outcome = await apply_event(session, run, course, reaction.event, now)
        position = RunPosition(run.id, outcome.state.current, outcome.finished)
        return Handled(row.update_id, inbound.callback_query_id, position)
