"""Parsed course versions, cached by version id.

A course version is immutable once stored, so parsing its YAML once per process is enough;
the cache is bounded so an account with thousands of versions cannot eat the memory.
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncSession

from courses.loader import load_course
from engine.model import Course
from storage.repositories import courses as course_repo


class CourseVersionMissingError(LookupError):
    """A run points at a version that does not exist or does not parse any more."""


class CourseCache:
    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._courses: OrderedDict[int, Course] = OrderedDict()

    def cached(self, version_id: int) -> Course | None:
        """The parsed version if this process has it; no I/O (the batch path reads misses
        in bulk and hands them to `keep`)."""
        course = self._courses.get(version_id)
        if course is not None:
            self._courses.move_to_end(version_id)
        return course

    async def get(self, session: AsyncSession, account_id: int, version_id: int) -> Course:
        course = self.cached(version_id)
        if course is not None:
            return course
        version = await course_repo.get_version(session, account_id, version_id)
        if version is None:
            raise CourseVersionMissingError(f"course version {version_id} not found")
        return self.keep(version_id, version.source_text)

    def keep(self, version_id: int, source_text: str) -> Course:
        """Parse a stored version and cache it (`CourseVersionMissingError` if it no longer
        loads)."""
        # Many chats of a new deployment miss together: whoever got here first while we
        # awaited the row has parsed it already (parsing rev.yaml costs ~20 ms of CPU).
        course = self._courses.get(version_id)
        if course is not None:
            return course
        loaded = load_course(source_text, source_name=f"version {version_id}")
        if loaded.course is None:
            raise CourseVersionMissingError(f"course version {version_id} does not load")
        self._courses[version_id] = loaded.course
        if len(self._courses) > self._capacity:
            self._courses.popitem(last=False)
        return loaded.course
