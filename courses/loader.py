"""Load a course from YAML text: every problem at once, as diagnostics with lines.

The format is the legacy one (a top-level mapping of element id -> element, in course
order). Legacy files must load unchanged, so their quirks are warnings, not errors:
duplicate element ids (PyYAML semantics: the last definition wins, at the position of the
first), media entries that are not URLs, the `delay` form with `continue`, unknown fields
(kept verbatim in `extra` for export).

The course is only built when there is no error: the engine can trust what it gets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode

from courses import limits
from courses.diagnostics import Diagnostic, DiagnosticSink
from courses.elements import ElementBuilder
from courses.problem_keys import Problem
from courses.yaml_source import (
    compose,
    kind_key,
    mapping_entries,
    node_kind,
    report_too_large,
    shorten,
)
from engine.limits import MAX_UNATTENDED_STEPS
from engine.model import Course, Element
from engine.unattended import loops_without_input


@dataclass(frozen=True)
class LoadResult:
    course: Course | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """No error diagnostics (warnings are fine); `course` is set exactly when ok."""
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)


def load_course(text: str, *, source_name: str = "<course>") -> LoadResult:
    """Parse and validate a course; never raises, whatever `text` contains."""
    sink = DiagnosticSink(source_name)
    course = _load(text, sink)
    return LoadResult(course if not sink.has_errors else None, sink.sorted())


def load_course_file(path: str | os.PathLike[str], *, source_name: str | None = None) -> LoadResult:
    """Load a course file; an oversized file is refused before it is read."""
    sink = DiagnosticSink(source_name or str(path))
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > limits.MAX_SOURCE_BYTES:
            report_too_large(sink, size)
            return LoadResult(None, sink.sorted())
        data = file.read_bytes()
    except OSError as exc:
        sink.error(f"cannot read file: {exc.strerror or exc}", key=Problem.UNREADABLE)
        return LoadResult(None, sink.sorted())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        sink.error(
            f"file is not UTF-8 text (bad byte at offset {exc.start})",
            key=Problem.NOT_UTF8,
            params={"offset": exc.start},
        )
        return LoadResult(None, sink.sorted())
    return load_course(text, source_name=sink.source)


def _load(text: str, sink: DiagnosticSink) -> Course | None:
    root = compose(text, sink)
    if root is None:
        return None
    if not isinstance(root, MappingNode):
        sink.error(
            f"the top level must be a mapping of element id -> element, got {node_kind(root)}",
            key=Problem.TOP_NOT_MAPPING,
            params={"got": kind_key(root)},
            line=root.start_mark.line + 1,
        )
        return None
    builder = ElementBuilder(sink)
    elements: list[Element] = []
    declared: set[str] = set()
    for entry in mapping_entries(root, sink, element_id=None, what="element id"):
        if not _valid_id(entry.key, entry.line, sink):
            continue
        declared.add(entry.key)
        element = builder.build(entry.key, entry.line, entry.node)
        if element is not None:
            elements.append(element)
    if not root.value:
        sink.error("the course has no elements", key=Problem.NO_ELEMENTS)
    _check_references(builder, declared, sink)
    if sink.has_errors:
        return None
    try:
        course = Course(elements=tuple(elements))
    except ValueError as exc:  # the model's own invariants; the checks above should catch all
        sink.error(str(exc), key=Problem.INTERNAL)
        return None
    _warn_about_loops(course, builder, sink)
    return course


def _valid_id(element_id: str, line: int, sink: DiagnosticSink) -> bool:
    if not element_id.strip():
        sink.error("an element id must not be empty", key=Problem.EMPTY_ID, line=line)
        return False
    if len(element_id) > limits.MAX_ELEMENT_ID_CHARS:
        sink.error(
            f"element id is longer than {limits.MAX_ELEMENT_ID_CHARS} characters",
            key=Problem.ID_TOO_LONG,
            params={"count": limits.MAX_ELEMENT_ID_CHARS},
            element_id=element_id[:40] + "…",
            line=line,
        )
        return False
    if any(ch in element_id for ch in "\r\n\t"):
        sink.error(
            "an element id must be on one line",
            key=Problem.ID_NOT_ONE_LINE,
            element_id=element_id,
            line=line,
        )
        return False
    return True


def _check_references(builder: ElementBuilder, known: set[str], sink: DiagnosticSink) -> None:
    """Checks that need the whole course. `known` holds every declared id, including elements
    that failed to build: a goto to those is not *also* an error."""
    for ref in builder.references:
        if ref.target not in known:
            sink.error(
                f"goto {ref.target!r}: there is no element with this id",
                key=Problem.GOTO_UNKNOWN,
                params={"target": shorten(ref.target)},
                element_id=ref.element_id,
                field=ref.field,
                line=ref.line,
            )
    for ref in builder.prefixes:
        if not any(element_id.startswith(ref.target) for element_id in known):
            sink.warning(
                f"no element id starts with {ref.target!r}, so nothing is counted",
                key=Problem.PREFIX_MATCHES_NOTHING,
                params={"prefix": shorten(ref.target)},
                element_id=ref.element_id,
                field=ref.field,
                line=ref.line,
            )
    for ref in builder.prompt_refs:
        if ref.target not in known:
            sink.warning(
                f"prompt variable {{{{{ref.target}}}}} names no element; it will be empty",
                key=Problem.PROMPT_VARIABLE_UNKNOWN,
                params={"name": shorten(ref.target)},
                element_id=ref.element_id,
                field=ref.field,
                line=ref.line,
            )
    for ref in builder.personal_refs:
        if ref.target not in known:
            sink.warning(
                f"{{{{{ref.target}}}}} names no element, so it is always empty; "
                "use the id of an earlier element whose answer to show",
                key=Problem.PERSONAL_REF_UNKNOWN,
                params={"name": shorten(ref.target)},
                element_id=ref.element_id,
                field=ref.field,
                line=ref.line,
            )


def _warn_about_loops(course: Course, builder: ElementBuilder, sink: DiagnosticSink) -> None:
    """One warning per loop the run can go round with no answer from the student, at the
    `goto` that closes it (a move back in the course is always a delay's goto)."""
    goto_lines = {ref.element_id: ref.line for ref in builder.references if ref.field == "goto"}
    for loop in loops_without_input(course):
        closing = loop[-1]
        sink.warning(
            f"{_loop_path(loop)} without any answer from the student: the bot would go "
            f"round forever (a run is stopped after {MAX_UNATTENDED_STEPS} steps without an "
            "answer); add a button, or a goto out of the loop",
            key=Problem.LOOP_WITHOUT_ANSWER,
            params={"path": _loop_ids(loop)},
            element_id=closing,
            field="goto",
            line=goto_lines.get(closing),
        )


def _loop_path(loop: tuple[str, ...]) -> str:
    """`elements 'a' → 'b' → 'a' repeat`; a long loop shows its first and last ones only."""
    path = _loop_ids(loop, more="… ({} more)")
    return f"element {path} repeats" if len(loop) == 1 else f"elements {path} repeat"


def _loop_ids(loop: tuple[str, ...], more: str = "… (+{})") -> str:
    """`'a' → 'b' → 'a'`; a long loop shows its first and last ids only."""
    shown = [repr(element_id) for element_id in loop]
    if len(shown) > 6:
        shown = [*shown[:3], more.format(len(loop) - 5), *shown[-2:]]
    return " → ".join([*shown, shown[0]])
