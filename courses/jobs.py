"""Course work done in the worker processes (courses/workers.py): texts in, small results
out.

A 30,000-element `Course` takes ~0.1 s to unpickle, so what the panel needs comes back
already reduced: the verdict with at most `MAX_REPORTED_DIAGNOSTICS` diagnostics, the
normalised elements as one JSON text (stored as is, never rebuilt as Python objects), the
exported YAML. Only the runtime, which steps the engine, takes the `Course` itself, built
from a big version's stored elements once per version per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from courses.diagnostics import Diagnostic
from courses.exporter import export_course
from courses.gsheets import rows_to_course
from courses.loader import LoadResult, load_course
from engine.model import Course, SectionElement, course_from_elements, course_to_elements

MAX_REPORTED_DIAGNOSTICS = 1000
"""A creator fixes the first problems and uploads again; 60,000 diagnostics of a broken
file would only cost the panel time to format."""


@dataclass(frozen=True)
class Checked:
    """A source's verdict. `diagnostics`: errors first chosen, then warnings, at most
    `MAX_REPORTED_DIAGNOSTICS`, in file order; `errors` and `warnings` count all of them.
    `elements_json`: the normalised elements (`[{"id", "type", ...}, ...]`) when it loads."""

    diagnostics: tuple[Diagnostic, ...]
    errors: int
    warnings: int
    elements_json: str | None
    elements_count: int
    title: str | None = None
    """A name for the course when its author gave none (see `suggested_title`)."""

    @property
    def ok(self) -> bool:
        return self.elements_json is not None

    @property
    def omitted(self) -> int:
        """Diagnostics found but not reported."""
        return self.errors + self.warnings - len(self.diagnostics)


@dataclass(frozen=True)
class SheetChecked:
    """The YAML built from a sheet's rows and its verdict (diagnostics point at rows)."""

    title: str
    source_text: str
    checked: Checked


def check(text: str, source_name: str) -> Checked:
    """Validate a source; its normalised elements when it loads."""
    return _checked(load_course(text, source_name=source_name))


def check_sheet(rows: Sequence[Sequence[str]], title: str) -> SheetChecked:
    sheet = rows_to_course(rows, title=title)
    return SheetChecked(sheet.title, sheet.source_text, _checked(sheet.result))


def export_normalised(text: str, source_name: str) -> str | None:
    """The course re-generated as YAML (None: it does not load)."""
    loaded = load_course(text, source_name=source_name)
    return export_course(loaded.course) if loaded.course is not None else None


def build(elements_json: str) -> Course:
    """The course the engine steps, from a version's stored elements (`Checked.elements_json`
    as the database gives it back); ValueError / TypeError / KeyError when they do not form
    one."""
    return course_from_elements(orjson.loads(elements_json))


def reported(diagnostics: Sequence[Diagnostic], limit: int) -> tuple[Diagnostic, ...]:
    """At most `limit` of `diagnostics`, errors before warnings, kept in their order."""
    chosen = [i for i, d in enumerate(diagnostics) if d.is_error][:limit]
    chosen += [i for i, d in enumerate(diagnostics) if not d.is_error][: limit - len(chosen)]
    return tuple(diagnostics[i] for i in sorted(chosen))


def _checked(result: LoadResult) -> Checked:
    errors = len(result.errors)
    course = result.course
    elements = (
        orjson.dumps(
            course_to_elements(course),
            option=orjson.OPT_NON_STR_KEYS,  # a test's score bands: {0: ..., 50: ...}
        ).decode()
        if course is not None
        else None
    )
    return Checked(
        diagnostics=reported(result.diagnostics, MAX_REPORTED_DIAGNOSTICS),
        errors=errors,
        warnings=len(result.diagnostics) - errors,
        elements_json=elements,
        elements_count=len(course.elements) if course is not None else 0,
        title=suggested_title(course) if course is not None else None,
    )


def suggested_title(course: Course) -> str | None:
    """The course's own title, else its first section's: a course pasted without a title
    still gets the name its author wrote in it."""
    if course.title and course.title.strip():
        return course.title.strip()[:200]
    for element in course.elements:
        if isinstance(element, SectionElement) and element.title and element.title.strip():
            return element.title.strip()[:200]
    return None
