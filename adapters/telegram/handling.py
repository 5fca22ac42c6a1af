"""Handle the next stored update of one chat: inbox row -> engine event -> durable step.

Everything happens in one tenant transaction: the update is marked processed together with
the state change it caused, so a crash replays it exactly once. A poison update (one that
makes our code fail) is rolled back to a savepoint, logged, and marked processed with its
error, so it can never wedge its chat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.observability.metrics import count_handled
from adapters.telegram import effect_codec
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.effect_codec import TranscribeVoice
from adapters.telegram.enrollment import Enrollment, HostedBot
from adapters.telegram.student_texts import Notice, notice_text
from adapters.telegram.transitions import RunPosition, apply_event
from adapters.telegram.updates import StartRequest, VoiceNote, translate
from engine.effects import SendText
from engine.events import Text
from storage.db import Database
from storage.models import ProcessedUpdate
from storage.repositories import inbox, outbox, runs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """One processed update; `callback_query_id` still needs answering (button spinner)."""

    update_id: int
    callback_query_id: str | None = None
    position: RunPosition | None = None
    more: bool = True  # False: no other update of the chat was waiting when this one began


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
        async with self._db.tenant(bot.account_id) as session:
            rows = await inbox.oldest_for_chat(
                session, bot.account_id, bot.bot_id, chat_id, limit=2
            )
            if not rows:
                return None
            row, more = rows[0], len(rows) > 1
            error: str | None = None
            handled = Handled(row.update_id)
            try:
                async with session.begin_nested():
                    handled = await self._handle(session, bot, row)
            except Exception as exc:
                log.exception("bot %s: update %s failed", bot.bot_id, row.update_id)
                error = f"{type(exc).__name__}: {exc}"[:500]
            await inbox.mark_processed(
                session, bot.account_id, row.id, error=error, now=self._clock()
            )
        count_handled(bot.account_id, ok=error is None, seconds=time.perf_counter() - started)
        return replace(handled, more=more)

    async def _handle(self, session: AsyncSession, bot: HostedBot, row: ProcessedUpdate) -> Handled:
        inbound = translate(Update.model_validate(row.payload))
        if inbound is None:
            return Handled(row.update_id)
        now = self._clock()
        if isinstance(inbound.action, StartRequest):
            started = await self._enrollment.start(session, bot, inbound, inbound.action, now)
            return Handled(row.update_id, inbound.callback_query_id, started)
        run = await runs.get_active(session, bot.account_id, bot.bot_id, inbound.chat_id, lock=True)
        if run is not None and isinstance(inbound.action, VoiceNote):
            # Speech-to-text is slow: it runs after commit, from the outbox (see delivery).
            await outbox.enqueue(
                session,
                bot.account_id,
                bot_id=bot.bot_id,
                chat_id=inbound.chat_id,
                run_id=run.id,
                payload=effect_codec.encode(TranscribeVoice(inbound.action.file_id)),
            )
            return Handled(row.update_id)
        event = inbound.action
        if run is None or isinstance(event, VoiceNote):
            if isinstance(event, Text):
                text = notice_text(Notice.NO_ACTIVE_RUN, inbound.student.language_code)
                await outbox.enqueue(
                    session,
                    bot.account_id,
                    bot_id=bot.bot_id,
                    chat_id=inbound.chat_id,
                    payload=effect_codec.encode(SendText(text, None)),
                )
            return Handled(row.update_id, inbound.callback_query_id)
        course = await self._courses.get(session, bot.account_id, run.course_version_id)
        outcome = await apply_event(session, run, course, event, now)
        position = RunPosition(run.id, outcome.state.current, outcome.finished)
        return Handled(row.update_id, inbound.callback_query_id, position)
