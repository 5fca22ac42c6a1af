"""A course source shown line by line with its diagnostics right under the lines they name.

The API answers a bad upload with diagnostics carrying element id, field and line; a person
fixing the file wants to see them where they are, like an editor shows them. A broken file
can have tens of thousands; the first `MAX_SHOWN` are shown and the rest counted, so the page
stays quick to build and to read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONTEXT_LINES = 3
MAX_SHOWN = 100


@dataclass
class ListingLine:
    number: int
    text: str
    diagnostics: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class Listing:
    """`chunks`: runs of consecutive lines around the diagnostics (the rest is elided);
    `unplaced`: diagnostics without a line (or past the end of the text); `hidden`: how many
    diagnostics are not shown; `errors`, `warnings`: counts of those given."""

    chunks: list[list[ListingLine]]
    unplaced: list[Mapping[str, Any]]
    errors: int
    warnings: int
    hidden: int = 0

    @property
    def limit(self) -> int:
        """How many diagnostics a listing shows at most (the page says so)."""
        return MAX_SHOWN


def annotate(
    source: str | None, diagnostics: Sequence[Mapping[str, Any]], omitted: int = 0
) -> Listing:
    """The first `MAX_SHOWN` diagnostics placed at their lines; `omitted`: diagnostics the
    API found but did not list (they are counted as hidden too)."""
    lines = source.splitlines() if source else []
    by_line: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    unplaced = []
    for item in diagnostics[:MAX_SHOWN]:
        line = item.get("line")
        if isinstance(line, int) and 1 <= line <= len(lines):
            by_line[line].append(item)
        else:
            unplaced.append(item)
    shown: set[int] = set()
    for line in by_line:
        shown.update(range(max(1, line - CONTEXT_LINES), min(len(lines), line + 1) + 1))
    chunks: list[list[ListingLine]] = []
    previous = None
    for number in sorted(shown):
        if previous is None or number != previous + 1:
            chunks.append([])
        chunks[-1].append(ListingLine(number, lines[number - 1], by_line.get(number, [])))
        previous = number
    errors = sum(1 for d in diagnostics if d.get("severity") == "error")
    hidden = max(len(diagnostics) - MAX_SHOWN, 0) + omitted
    return Listing(chunks, unplaced, errors, len(diagnostics) - errors, hidden)
