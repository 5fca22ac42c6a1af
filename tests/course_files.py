"""Where the tests' course files live, decided in this one place.

The tests use the project's own courses: `tests/fixtures/courses/` (together they cover every
element type and the legacy forms) and the shipped sample `courses/examples/demo_en.yaml`.

ProfoChatBot's real courses, where the legacy format comes from, are not ours to
redistribute, so no copy of them is kept here. The compatibility suite, which checks that
they load, export and play unchanged, reads them from the folder `COURSEBOT_LEGACY_DIR`
names, else from `../shared/courses/legacy` beside the repository, and is skipped, saying
why, where neither exists. A `COURSEBOT_LEGACY_DIR` that names no folder is an error rather
than a skip, so a run that asked for the suite (as `.ci/run` does) cannot quietly lose it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "courses"
DEMO = REPO / "courses" / "examples" / "demo_en.yaml"
OWN_COURSES: tuple[Path, ...] = (*sorted(FIXTURES.glob("*.yaml")), DEMO)

LEGACY_ENV = "COURSEBOT_LEGACY_DIR"
LEGACY_BESIDE_REPO = REPO.parent / "shared" / "courses" / "legacy"
SKIP_REASON = (
    "ProfoChatBot compatibility suite skipped: its courses are not part of this repository; "
    f"set {LEGACY_ENV} to their folder (or put them in ../shared/courses/legacy) to run it"
)


def fixture(name: str) -> Path:
    """One of the project's own test courses, by file name."""
    path = FIXTURES / name
    if not path.is_file():
        raise FileNotFoundError(f"no test course {name!r} in {FIXTURES}")
    return path


def fixture_text(name: str) -> str:
    return fixture(name).read_text(encoding="utf-8")


def _find_legacy_dir() -> Path | None:
    configured = os.environ.get(LEGACY_ENV)
    if configured:
        path = Path(configured)
        if not path.is_dir():
            raise RuntimeError(f"{LEGACY_ENV}={configured!r} is not a folder")
        return path
    return LEGACY_BESIDE_REPO if LEGACY_BESIDE_REPO.is_dir() else None


LEGACY_DIR = _find_legacy_dir()
requires_legacy = pytest.mark.skipif(LEGACY_DIR is None, reason=SKIP_REASON)


def legacy_dir_or_skip_module() -> Path:
    """For a module that is all compatibility suite: skip it whole without the courses."""
    if LEGACY_DIR is None:
        pytest.skip(SKIP_REASON, allow_module_level=True)
    return LEGACY_DIR


def legacy_courses(*names: str) -> list:
    """Parameters for a test run once per legacy course (the ones named, else every one): the
    files when present, else one skipped parameter that says why (an empty parameter set
    would not)."""
    if LEGACY_DIR is None:
        return [pytest.param(None, marks=requires_legacy, id="legacy-courses-absent")]
    paths = [LEGACY_DIR / name for name in names] or sorted(LEGACY_DIR.glob("*.y*ml"))
    return [pytest.param(path, id=f"legacy-{path.name}") for path in paths]
