"""What changed between two versions of a course: the text, and element by element.

The unified diff is what a creator reads; the element-level view is what matters for running
students (an element they are on that disappears, a quiz whose answers changed). Both take
seconds on 30,000-element versions, so `compare` runs in a worker process
(panel_api/services/course_work.py) on the stored texts, and gives back the answer ready.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from panel_api.schemas.courses import DiffOut, ElementChangeOut, ElementDiffOut


@dataclass(frozen=True)
class ElementChange:
    id: str
    fields: list[str]


@dataclass
class ElementDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)


def compare(
    old_source: str,
    new_source: str,
    old_elements_json: str,
    new_elements_json: str,
    versions: tuple[int, int],
    context: int,
) -> str:
    """Both views of two versions (numbered `versions`), from their source texts and stored
    elements, as the API's JSON answer: when every one of 30,000 elements changed, building
    and encoding that answer is work too."""
    old, new = versions
    changes = elements(orjson.loads(old_elements_json), orjson.loads(new_elements_json))
    return DiffOut(
        from_version=old,
        to_version=new,
        unified=unified(old_source, new_source, f"v{old}", f"v{new}", context),
        elements=ElementDiffOut(
            added=changes.added,
            removed=changes.removed,
            changed=[ElementChangeOut(id=c.id, fields=c.fields) for c in changes.changed],
            moved=changes.moved,
        ),
    ).model_dump_json()


LINE_DIFF_BUDGET_S = 5.0
"""difflib's matching is quadratic on lines that repeat (30,000 `type: message` lines took
minutes of a worker's CPU). Past this budget the changed stretch between the first and the
last differing line is shown removed and added as a whole: still a correct diff, only not
the shortest one."""

Opcode = tuple[str, int, int, int, int]


class _OutOfTime(Exception):
    pass


class _BudgetedMatcher(difflib.SequenceMatcher):
    def __init__(self, a: list[str], b: list[str], deadline: float) -> None:
        self._deadline = deadline
        super().__init__(None, a, b)

    def find_longest_match(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > self._deadline:
            raise _OutOfTime
        return super().find_longest_match(*args, **kwargs)


def unified(old: str, new: str, old_name: str, new_name: str, context: int = 3) -> str:
    """The unified diff (as `diff -u` writes it) of two texts."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    try:
        matcher = _BudgetedMatcher(a, b, time.monotonic() + LINE_DIFF_BUDGET_S)
        groups = list(matcher.get_grouped_opcodes(context))
    except _OutOfTime:
        groups = [_whole_stretch(a, b, context)]
    if not groups:
        return ""
    out = [f"--- {old_name}\n", f"+++ {new_name}\n"]
    for group in groups:
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(" " + line for line in a[i1:i2])
                continue
            out.extend("-" + line for line in a[i1:i2])
            out.extend("+" + line for line in b[j1:j2])
    return "".join(out)


def _whole_stretch(a: list[str], b: list[str], context: int) -> list[Opcode]:
    """One hunk: everything from the first differing line to the last one replaced."""
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    before = max(head - context, 0)
    after = min(tail, context)
    return [
        ("equal", before, head, before, head),
        ("replace", head, len(a) - tail, head, len(b) - tail),
        ("equal", len(a) - tail, len(a) - tail + after, len(b) - tail, len(b) - tail + after),
    ]


def _range(start: int, stop: int) -> str:
    """A hunk's line range as `diff -u` writes it (difflib's own formatter is private)."""
    length = stop - start
    first = start + 1 if length else start
    return str(first) if length == 1 else f"{first},{length}"


def elements(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> ElementDiff:
    """Added/removed by id; changed = same id, different fields; moved = relative order of
    the elements both versions share differs."""
    old_by_id = {e["id"]: e for e in old}
    new_by_id = {e["id"]: e for e in new}
    diff = ElementDiff(
        added=[i for i in new_by_id if i not in old_by_id],
        removed=[i for i in old_by_id if i not in new_by_id],
    )
    for element_id, after in new_by_id.items():
        before = old_by_id.get(element_id)
        if before is None:
            continue
        keys = sorted(set(before) | set(after))
        changed = [k for k in keys if before.get(k) != after.get(k)]
        if changed:
            diff.changed.append(ElementChange(element_id, changed))
    shared_old = [i for i in old_by_id if i in new_by_id]
    shared_new = [i for i in new_by_id if i in old_by_id]
    if shared_old != shared_new:
        matcher = difflib.SequenceMatcher(a=shared_old, b=shared_new, autojunk=False)
        kept = {shared_old[b.a + k] for b in matcher.get_matching_blocks() for k in range(b.size)}
        diff.moved = [i for i in shared_new if i not in kept]
    return diff
