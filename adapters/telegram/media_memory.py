"""What Telegram made of a bot's media links: file ids to reuse, refusals to show.

Telegram downloads a media link each time it is sent by link; the file id it returns lets
the next student get the same file without that (and without the course's host serving it
again), so the first id per bot and link is kept (DESIGN §12), written by the journal with
the message's record. A link Telegram refuses is noted once per course version and element,
for the creator to see on the version's and the run's pages; the student gets the words
with the link instead (delivery's fallback).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.telegram.lean_methods import sent_file_id
from runtime.course_cache import CourseCache
from runtime.hosted_bot import HostedBot
from storage.repositories import media, runs

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class MediaMemory:
    """One bot's: loaded on its first media message, then kept in the process."""

    def __init__(self, bot: HostedBot, session: SessionFactory, courses: CourseCache) -> None:
        self._bot = bot
        self._session = session
        self._courses = courses
        self._files: dict[str, str] | None = None
        self._loading = asyncio.Lock()  # the bot's chats ask at once: one read serves them all

    async def file_ids(self) -> dict[str, str]:
        """Link -> the file id Telegram gave this bot for it."""
        if self._files is None:
            async with self._loading:
                if self._files is None:
                    async with self._session() as session:
                        self._files = await media.file_ids(
                            session, self._bot.account_id, self._bot.bot_id
                        )
        return self._files

    async def learn(
        self, urls: Sequence[str], results: Iterable[object]
    ) -> tuple[tuple[str, str], ...]:
        """The (link, file id) pairs Telegram returned for links it was sent and this bot did
        not know yet (results in the order of the calls, an album's messages in the order of
        its items). They are kept here at once and in the database with the message's
        record (the journal's batch), so they cost no transaction of their own."""
        known = await self.file_ids()
        ids = [file_id for sent in _flatten(results) if (file_id := sent_file_id(sent))]
        new = {
            url: file_id
            for url, file_id in zip(urls, ids, strict=False)
            if url not in known and file_id != url and len(url) <= media.MAX_URL_CHARS
        }
        known.update(new)
        return tuple(new.items())

    async def note_refusal(self, run_id: int | None, urls: Sequence[str], reason: str) -> None:
        """Note the links (those not sent by file id before) of the run's version's elements
        that Telegram refused."""
        known = await self.file_ids()
        fresh = [url for url in urls if url not in known]
        if run_id is None or not fresh:
            return
        account_id = self._bot.account_id
        async with self._session() as session:
            run = await runs.get(session, account_id, run_id)
            if run is None:
                return
            course = await self._courses.get(session, account_id, run.course_version_id)
            refused = [
                (element.id, url)
                for element in course.elements
                for url in fresh
                if url in element.media
            ]
            await media.record_refusals(session, account_id, run.course_version_id, refused, reason)
        log.info("bot %s: Telegram refused %d media link(s)", self._bot.bot_id, len(refused))


def _flatten(results: Iterable[object]) -> list[object]:
    """The messages sent: an album's call answers with a list of them."""
    flat: list[object] = []
    for result in results:
        if isinstance(result, list):
            flat.extend(result)
        else:
            flat.append(result)
    return flat
