"""Course versions as the engine's `Course`, built from their stored elements and cached by
version id.

A version is validated once, when it is uploaded, and stored with its normalised elements
(`course_version.elements`); the runtime builds the `Course` it steps from those, never from
the source again. A version is immutable, so building it once per process is enough; the
cache is bounded so an account with thousands of versions cannot eat the memory.

Building takes a few microseconds per element: a normal course is built on the spot, but a
30,000-element one takes a tenth of a second and more, so a version whose elements exceed
`BUILD_ON_LOOP_BYTES` is built in the course worker processes (courses/workers.py), never
on the event loop: `load` starts it and hands back a task, one per version however many
chats need it; the journal's batches go on with the other chats meanwhile. A version that
does not build is remembered as such, so its chats fail at once from then on instead of
asking the workers again.
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


BUILD_ON_LOOP_BYTES = 32 * 1024
"""Stored elements up to this size (a hundred or two real elements, at most ~750 one-line
messages) are built on the event loop: a few milliseconds at most (95 elements, 16 KiB:
0.4 ms; 1,500 one-liners, 62 KiB: 9 ms on a loaded machine; 30,000: 190 ms)."""


class CourseVersionMissingError(LookupError):
    """A run points at a version that does not exist or does not build any more."""


class CourseCache:
    def __init__(self, workers: CourseWorkers, capacity: int = 512) -> None:
        self._workers = workers
        self._capacity = capacity
        self._courses: OrderedDict[int, Course | None] = OrderedDict()  # None: does not build
        self._loading: dict[int, asyncio.Task[None]] = {}

    def known(self, version_id: int) -> bool:
        """Built already, or known not to build (no I/O)."""
        return version_id in self._courses

    def cached(self, version_id: int) -> Course | None:
        """The built version if this process has it (None: not built yet, or it does not
        build; `known` tells which)."""
        course = self._courses.get(version_id)
        if course is not None:
            self._courses.move_to_end(version_id)
        return course

    def loading(self, version_id: int) -> asyncio.Task[None] | None:
        """The build under way in a worker for this version, if one is."""
        return self._loading.get(version_id)

    def load(
        self, version_id: int, account_id: int, elements_json: str | None
    ) -> asyncio.Task[None] | None:
        """Build a stored version from its elements (None: there is no such version). A
        small one is built at once and None comes back; a big one in a worker, and the task
        is done once the version is `known` (or the workers failed, and a later `load`
        tries again)."""
        task = self._loading.get(version_id)
        if task is not None:
            return task
        if elements_json is None or len(elements_json) <= BUILD_ON_LOOP_BYTES:
            self._remember(version_id, _built(version_id, elements_json))
            return None
        task = asyncio.create_task(
            self._build_in_worker(version_id, account_id, elements_json),
            name=f"build-v{version_id}",
        )
        self._loading[version_id] = task
        task.add_done_callback(lambda _: self._loading.pop(version_id, None))
        return task

    async def get(self, session: AsyncSession, account_id: int, version_id: int) -> Course:
        if not self.known(version_id):
            task = self.loading(version_id)
            if task is None:
                elements = await course_repo.elements_json(session, account_id, version_id)
                task = self.load(version_id, account_id, elements)
            if task is not None:
                await asyncio.shield(task)  # a caller giving up does not stop the others' build
        course = self.cached(version_id)
        if course is None:
            raise CourseVersionMissingError(f"course version {version_id} does not load")
        return course

    async def close(self) -> None:
        """Stop waiting for builds under way (the runtime is stopping)."""
        tasks = list(self._loading.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _build_in_worker(self, version_id: int, account_id: int, elements_json: str) -> None:
        try:
            course = await self._workers.run(
                account_id, jobs.build, elements_json, refuse_when_busy=False
            )
        except BrokenProcessPool:
            log.error(
                "a worker died building course version %s; it will be tried again", version_id
            )
            return  # not remembered: the next chat that needs it tries again
        except Exception:
            log.exception("course version %s could not be built", version_id)
            course = None
        self._remember(version_id, course)

    def _remember(self, version_id: int, course: Course | None) -> None:
        if course is None:
            log.warning("course version %s does not exist or does not load", version_id)
        self._courses[version_id] = course
        if len(self._courses) > self._capacity:
            self._courses.popitem(last=False)


def _built(version_id: int, elements_json: str | None) -> Course | None:
    """The version built here and now (None: there is none, or it does not build)."""
    if elements_json is None:
        return None
    try:
        return jobs.build(elements_json)
    except Exception:
        log.exception("course version %s could not be built", version_id)
        return None
