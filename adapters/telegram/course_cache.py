"""Parsed course versions, cached by version id.

A course version is immutable once stored, so parsing its YAML once per process is enough;
the cache is bounded so an account with thousands of versions cannot eat the memory.

Parsing a 30,000-element course takes seconds of CPU, so it happens in the course worker
processes (courses/workers.py), never on the event loop: `load` starts it and hands back a
future, one per version however many chats need it; the journal's batches go on with the
other chats meanwhile. A version that does not load is remembered as such, so its chats fail
at once from then on instead of asking the workers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures.process import BrokenProcessPool

from sqlalchemy.ext.asyncio import AsyncSession

from courses import jobs
from courses.workers import CourseWorkers
from engine.model import Course
from storage.repositories import courses as course_repo

log = logging.getLogger(__name__)


class CourseVersionMissingError(LookupError):
    """A run points at a version that does not exist or does not parse any more."""


class CourseCache:
    def __init__(self, workers: CourseWorkers, capacity: int = 512) -> None:
        self._workers = workers
        self._capacity = capacity
        self._courses: OrderedDict[int, Course | None] = OrderedDict()  # None: does not load
        self._loading: dict[int, asyncio.Task[None]] = {}

    def known(self, version_id: int) -> bool:
        """Parsed already, or known not to load (no I/O)."""
        return version_id in self._courses

    def cached(self, version_id: int) -> Course | None:
        """The parsed version if this process has it (None: not parsed yet, or it does not
        load; `known` tells which)."""
        course = self._courses.get(version_id)
        if course is not None:
            self._courses.move_to_end(version_id)
        return course

    def loading(self, version_id: int) -> asyncio.Task[None] | None:
        """The parse under way for this version, if one is."""
        return self._loading.get(version_id)

    def load(self, version_id: int, account_id: int, source_text: str | None) -> asyncio.Task[None]:
        """Parse a stored version in a worker (None: there is no such version); the task
        is done once the version is `known` (or the workers failed, and a later `load`
        tries again)."""
        task = self._loading.get(version_id)
        if task is None:
            task = asyncio.create_task(
                self._parse(version_id, account_id, source_text), name=f"parse-v{version_id}"
            )
            self._loading[version_id] = task
            task.add_done_callback(lambda _: self._loading.pop(version_id, None))
        return task

    async def get(self, session: AsyncSession, account_id: int, version_id: int) -> Course:
        if not self.known(version_id):
            task = self.loading(version_id)
            if task is None:
                source = await course_repo.source_text(session, account_id, version_id)
                task = self.load(version_id, account_id, source)
            await asyncio.shield(task)  # a caller giving up does not stop the others' parse
        course = self.cached(version_id)
        if course is None:
            raise CourseVersionMissingError(f"course version {version_id} does not load")
        return course

    async def close(self) -> None:
        """Stop waiting for parses under way (the runtime is stopping)."""
        tasks = list(self._loading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _parse(self, version_id: int, account_id: int, source_text: str | None) -> None:
        course = None
        if source_text is not None:
            try:
                course = await self._workers.run(
                    account_id,
                    jobs.parse,
                    source_text,
                    f"version {version_id}",
                    refuse_when_busy=False,
                )
            except BrokenProcessPool:
                log.error(
                    "a worker died parsing course version %s; it will be tried again", version_id
                )
                return  # not remembered: the next chat that needs it tries again
            except Exception:
                log.exception("course version %s could not be parsed", version_id)
        if course is None:
            log.warning("course version %s does not exist or does not load", version_id)
        self._courses[version_id] = course
        if len(self._courses) > self._capacity:
            self._courses.popitem(last=False)
