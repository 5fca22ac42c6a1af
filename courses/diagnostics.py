"""Diagnostics: every problem found in a course source, with where it is.

The loader never stops at the first problem: a creator fixing a course wants the whole list
at once (in the CLI, in the panel), each pointing at an element, a field and a line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from courses.problem_keys import Problem

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a course source.

    `line` is 1-based (as editors show it). `source` is the file name the loader was given, so
    a diagnostic printed on its own still says where it comes from. `message` is English (the
    CLI and the API say it); `key` with `params` is the same problem for a page to say in its
    reader's language (`course_problem.<key>` in the panel's catalogs). A problem without a
    key yet (None) is shown in its English words.
    """

    severity: Severity
    message: str
    element_id: str | None = None
    field: str | None = None
    line: int | None = None
    source: str | None = None
    key: Problem | None = None
    params: Mapping[str, str | int] = dataclasses.field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = self.source or "<course>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        parts = []
        if self.element_id is not None:
            parts.append(f"element {self.element_id!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        subject = ", ".join(parts)
        body = f"{subject}: {self.message}" if subject else self.message
        return f"{where}: {self.severity}: {body}"


class DiagnosticSink:
    """Collects diagnostics for one source so helpers need not thread the file name around."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Diagnostic] = []
        self.error_count = 0

    def error(
        self,
        message: str,
        *,
        key: Problem | None = None,
        params: Mapping[str, str | int] | None = None,
        element_id: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.items.append(
            Diagnostic(
                "error", message, element_id, field, line, self.source, key, dict(params or {})
            )
        )
        self.error_count += 1

    def warning(
        self,
        message: str,
        *,
        key: Problem | None = None,
        params: Mapping[str, str | int] | None = None,
        element_id: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.items.append(
            Diagnostic(
                "warning", message, element_id, field, line, self.source, key, dict(params or {})
            )
        )

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0

    def sorted(self) -> tuple[Diagnostic, ...]:
        """File order (errors before warnings on the same line), as a reader scans the file."""
        return tuple(
            sorted(
                self.items,
                key=lambda d: (d.line if d.line is not None else 0, d.severity != "error"),
            )
        )
