"""The runtime's course cache builds versions from their stored elements: a normal course at
once, on the spot; a big one in a worker process (no tenant's course may stall the event
loop); one that does not build is remembered as such."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from courses.jobs import check
from engine.model import MessageElement
from runtime.course_cache import BUILD_ON_LOOP_BYTES, CourseCache


class RecordingWorkers:
    """Runs jobs in this process, recording them (the real pool: tests/integration)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[int, str]] = []

    async def run(
        self, account_id: int, fn: Callable[..., Any], *args: Any, refuse_when_busy: bool = True
    ) -> Any:
        self.jobs.append((account_id, fn.__name__))
        return fn(*args)


def elements_json(count: int) -> str:
    checked = check("".join(f"m{i}:\n  type: message\n  text: x\n" for i in range(count)), "c")
    assert checked.elements_json is not None
    return checked.elements_json


def cache() -> tuple[CourseCache, RecordingWorkers]:
    workers = RecordingWorkers()
    return CourseCache(workers), workers  # type: ignore[arg-type]


async def test_a_normal_course_is_built_at_once_without_a_worker() -> None:
    courses, workers = cache()
    assert courses.load(7, 1, elements_json(95)) is None
    assert courses.known(7) and courses.loading(7) is None
    built = courses.cached(7)
    assert built is not None and len(built.elements) == 95
    assert built.get("m0") == MessageElement(id="m0", text="x")
    assert workers.jobs == []


async def test_a_big_course_is_built_in_a_worker() -> None:
    courses, workers = cache()
    big = elements_json(30_000)
    assert len(big) > BUILD_ON_LOOP_BYTES
    task = courses.load(8, 3, big)
    assert task is not None and courses.loading(8) is task and not courses.known(8)
    assert courses.load(8, 3, big) is task  # one build, however many chats need it
    await task
    built = courses.cached(8)
    assert built is not None and len(built.elements) == 30_000
    assert workers.jobs == [(3, "build")]


@pytest.mark.parametrize(
    "stored",
    [None, orjson.dumps([{"id": "a", "type": "delay", "wait": "1h", "goto": "nowhere"}]).decode()],
    ids=["missing", "broken"],
)
async def test_a_version_that_is_missing_or_does_not_build_is_remembered(stored) -> None:
    courses, _ = cache()
    assert courses.load(9, 1, stored) is None
    assert courses.known(9) and courses.cached(9) is None
