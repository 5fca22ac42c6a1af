"""The runtime steps the course built from a version's stored elements, not from its source
again: for every course we have, that course equals the one the loader parses from the
source, including through a JSON text the way PostgreSQL's JSONB gives it back (keys
reordered, numbers normalised)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from courses.jobs import build, check
from courses.loader import load_course
from tests.course_files import OWN_COURSES, legacy_courses


def _like_jsonb(elements_json: str) -> str:
    """Keys sorted (JSONB orders them its own way) and re-encoded by another encoder."""
    return json.dumps(orjson.loads(elements_json), sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
def test_the_course_built_from_stored_elements_equals_the_parsed_one(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    parsed = load_course(text, source_name=path.name).course
    checked = check(text, path.name)
    assert parsed is not None and checked.elements_json is not None
    assert build(checked.elements_json) == parsed
    assert build(_like_jsonb(checked.elements_json)) == parsed


def test_stored_elements_that_do_not_form_a_course_do_not_build() -> None:
    with pytest.raises(ValueError, match="nowhere"):
        build('[{"id": "a", "type": "delay", "wait": "1h", "goto": "nowhere"}]')
    with pytest.raises(ValueError, match="unknown type"):
        build('[{"id": "a", "type": "teleport"}]')
