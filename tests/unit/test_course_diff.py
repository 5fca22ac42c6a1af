"""The versions diff: the same text as `diff -u` (difflib), and a bounded cost however the
versions differ (a quadratic line diff of two 30,000-element versions took minutes)."""

from __future__ import annotations

import difflib

import orjson
import pytest

from panel_api.services import course_diff

OLD = "".join(f"m{i}:\n  type: message\n  text: x\n" for i in range(40))
NEW = OLD.replace("m3:\n  type: message\n  text: x\n", "m3:\n  type: message\n  text: y\n")
NEW = NEW.replace("m30:\n  type: message\n  text: x\n", "m30:\n  type: end\n  text: x\n")


def test_the_unified_diff_is_the_one_diff_u_writes():
    expected = "".join(
        difflib.unified_diff(
            OLD.splitlines(keepends=True),
            NEW.splitlines(keepends=True),
            fromfile="v1",
            tofile="v2",
            n=2,
        )
    )
    assert course_diff.unified(OLD, NEW, "v1", "v2", 2) == expected
    assert course_diff.unified(OLD, OLD, "v1", "v1", 3) == ""


def test_past_its_budget_the_changed_stretch_is_shown_replaced_whole(monkeypatch):
    monkeypatch.setattr(course_diff, "LINE_DIFF_BUDGET_S", -1.0)
    diff = course_diff.unified(OLD, NEW, "v1", "v2", 2)
    lines = diff.splitlines()
    # m3's text (line 12) to m30's type (line 92) are replaced, with 2 lines around them.
    assert lines[:3] == ["--- v1", "+++ v2", "@@ -10,85 +10,85 @@"]
    assert lines[3:5] == [" m3:", "   type: message"]
    removed = [line[1:] for line in lines if line.startswith("-") and line != "--- v1"]
    added = [line[1:] for line in lines if line.startswith("+") and line != "+++ v2"]
    assert removed == OLD.splitlines()[11:92]
    assert added == NEW.splitlines()[11:92]
    assert lines[-2:] == ["   text: x", " m31:"]


@pytest.mark.parametrize("context", [0, 3])
def test_the_answer_carries_both_views(context):
    answer = orjson.loads(
        course_diff.compare(
            OLD,
            NEW,
            '[{"id": "a", "type": "end"}, {"id": "b", "type": "end"}]',
            '[{"id": "b", "type": "message", "text": "x"}, {"id": "c", "type": "end"}]',
            (1, 2),
            context,
        )
    )
    assert answer["unified"] == course_diff.unified(OLD, NEW, "v1", "v2", context)
    assert answer["elements"] == {
        "added": ["c"],
        "removed": ["a"],
        "changed": [{"id": "b", "fields": ["text", "type"]}],
        "moved": [],
    }
