"""The course worker processes the tests share: every app and runtime a test builds does its
course work there, as production does (courses/workers.py).

One pool for the whole session (its workers start once); tests that need other limits build
their own `CourseWorkers`.
"""

from __future__ import annotations

from courses.workers import CourseWorkers

_shared: CourseWorkers | None = None


def shared_course_workers() -> CourseWorkers:
    global _shared
    if _shared is None:
        _shared = CourseWorkers(processes=2, jobs_per_account=2, queue_per_account=8)
    return _shared


async def close_shared_course_workers() -> None:
    global _shared
    if _shared is not None:
        await _shared.close()
        _shared = None
