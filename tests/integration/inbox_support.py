"""Apply the events waiting in an account's inboxes as the runtime does, for tests of the
panel and the payments service that run without a runtime: the database lane's reader
(adapters/telegram/handling.py) hands each chat's rows, in order, to a journal."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from adapters.telegram.handling import InboxReader
from runtime.course_cache import CourseCache
from runtime.hosted_bot import HostedBot
from runtime.journal import Journal
from storage.db import Database
from storage.models import InboxKind, ProcessedUpdate
from tests.course_workers import shared_course_workers


async def apply_inbox_events(db: Database, account_id: int) -> int:
    """Handle every event waiting in the account's inboxes; how many were handled."""
    async with db.tenant(account_id) as session:
        chats = (
            await session.execute(
                select(ProcessedUpdate.bot_id, ProcessedUpdate.chat_id)
                .where(
                    ProcessedUpdate.account_id == account_id,
                    ProcessedUpdate.processed_at.is_(None),
                    ProcessedUpdate.kind != InboxKind.TELEGRAM.value,
                    ProcessedUpdate.chat_id.is_not(None),
                )
                .distinct()
            )
        ).all()
    courses = CourseCache(shared_course_workers())
    journal = Journal(db, courses, lambda: datetime.now(UTC))
    journal.start()
    reader = InboxReader(db)
    handled = 0
    try:
        for bot_id, chat_id in chats:
            assert chat_id is not None  # every event is for a chat
            bot = HostedBot(bot_id, account_id, "bot", None)
            while (found := await reader.oldest(bot, chat_id)) is not None:
                arrival, _ = found
                assert arrival.event is not None, "a Telegram update waits before the events"
                assert await journal.handle(bot, chat_id, arrival) is not None
                handled += 1
    finally:
        await journal.stop()
        await courses.close()
    return handled
