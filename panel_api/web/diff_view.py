"""A unified diff as lines a page can colour (added, removed, hunk headers), cut to a length a
phone can scroll: a 30,000-element course may differ in every line, and the whole diff stays
one click away in the API's answer."""

from __future__ import annotations

from dataclasses import dataclass

SHOWN_LINES = 1500


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "file", "hunk", "add", "del" or "same"
    text: str


@dataclass(frozen=True)
class DiffLines:
    lines: list[DiffLine]
    hidden: int


def diff_lines(unified: str, limit: int = SHOWN_LINES) -> DiffLines:
    raw = unified.splitlines()
    return DiffLines([_line(text) for text in raw[:limit]], max(len(raw) - limit, 0))


def _line(text: str) -> DiffLine:
    if text.startswith(("--- ", "+++ ")):
        return DiffLine("file", text)
    if text.startswith("@@"):
        return DiffLine("hunk", text)
    kind = {"+": "add", "-": "del"}.get(text[:1], "same")
    return DiffLine(kind, text)
