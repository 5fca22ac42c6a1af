"""What changed between two versions of a course: the text, and element by element.

The unified diff is what a creator reads; the element-level view is what matters for running
students (an element they are on that disappears, a quiz whose answers changed). Both take
seconds on 30,000-element versions, so `compare` runs in a worker process
(panel_api/services/course_work.py) on the stored texts.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson


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


@dataclass(frozen=True)
class Comparison:
    unified: str
    elements: ElementDiff


def compare(
    old_source: str,
    new_source: str,
    old_elements_json: str,
    new_elements_json: str,
    names: tuple[str, str],
    context: int,
) -> Comparison:
    """Both views of two versions, from their source texts and stored elements (JSON)."""
    return Comparison(
        unified(old_source, new_source, *names, context),
        elements(orjson.loads(old_elements_json), orjson.loads(new_elements_json)),
    )


def unified(old: str, new: str, old_name: str, new_name: str, context: int = 3) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
            n=context,
        )
    )


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
