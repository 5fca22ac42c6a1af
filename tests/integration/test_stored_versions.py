"""What the runtime steps is the version as PostgreSQL keeps it: every course we have, stored
as an upload stores it and read back as the runtime reads it, builds to the course the loader
parses from its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from courses.jobs import build, check
from courses.loader import load_course
from storage.repositories import courses
from tests.course_files import OWN_COURSES, legacy_courses


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
async def test_a_stored_version_builds_to_the_course_of_its_source(db, make_account, path: Path):
    text = path.read_text(encoding="utf-8")
    checked = check(text, path.name)
    assert checked.elements_json is not None
    account = await make_account()
    async with db.tenant(account) as s:
        course = await courses.create(s, account, title=path.stem, slug="stored")
        version = await courses.add_version(
            s,
            account,
            course.id,
            source_text=text,
            source_format="yaml",
            elements=checked.elements_json,
            checksum="0" * 64,
        )
        stored = await courses.elements_json(s, account, version.id)
    assert stored is not None
    assert build(stored) == load_course(text, source_name=path.name).course
