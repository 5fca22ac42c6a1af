"""An old course as ours: its YAML source (its `course.yaml`, or one built from its element
rows) and its slug (its old code).

Courses imported into the old bot from Google Sheets exist only as `course_element` rows
(element id -> element data, ordered by row id); written out as the legacy YAML mapping they
become a source the panel would accept from an upload, so the version stores a text a
creator can read, export and edit like any other.
"""

from __future__ import annotations

import re
import unicodedata

import yaml

from legacy_import.legacy_db import LegacyCourse


class NoSource(ValueError):
    """The old course has neither YAML nor usable element rows."""


def course_source(course: LegacyCourse) -> str:
    if course.yaml and course.yaml.strip():
        return course.yaml
    elements = {eid: data for eid, data in course.elements if eid and data is not None}
    if not elements:
        raise NoSource(f"course {course.code!r} has no yaml and no readable course_element rows")
    return yaml.safe_dump(elements, allow_unicode=True, sort_keys=False, width=100)


def course_slug(code: str) -> str:
    """The course's slug in the account: its old code, as a URL-safe lower-case name."""
    ascii_code = unicodedata.normalize("NFKD", code).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_code.lower()).strip("-")[:60]
    return slug or "course"
