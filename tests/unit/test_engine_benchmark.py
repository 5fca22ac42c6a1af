"""The engine benchmark's scripted student really plays its course (words_and_charts.yaml,
the shape of the legacy rev.yaml) to the end, through the revision, and the report compares
against the baseline measured in the same run."""

from __future__ import annotations

from benchmarks.engine_steps import DEFAULT_COURSE, measure, render, script
from engine import RunState, step
from engine.events import PollAnswer
from tests.unit.student import T0, load_file


def load_benchmark_course():
    return load_file(DEFAULT_COURSE)


def test_benchmark_script_finishes_its_course_with_wrong_answers_and_revision():
    course = load_benchmark_course()
    events = [event for event, _ in script(course)]
    state = RunState.new()
    visited = set()
    for event in events:
        state, _ = step(course, state, event, T0)
        visited.add(state.current)
    assert state.finished and state.status == "completed"
    assert {"Words_Review", "word_50", "chart2_8"} <= visited  # "more words" at each jump
    assert any(answer.score == 0 for answer in state.answers.values())
    assert sum(isinstance(e, PollAnswer) for e in events) > 50


def test_benchmark_report_has_baseline_and_ratios():
    rows = measure(load_benchmark_course(), runs=1)
    assert rows[0][0].endswith("(baseline)")
    table = render(rows).splitlines()
    assert len(table) == 4 and table[1].rstrip().endswith("1.00x")
