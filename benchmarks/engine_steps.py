"""Engine throughput: a 95-element course (tests/fixtures/courses/words_and_charts.yaml, the
shape of the legacy rev.yaml the history was first measured on) played through `step()`
again and again.

Absolute numbers depend on the machine, so the same run also measures a baseline the
runtime pays on every event anyway -- the RunState JSON round trip (load + save of the
run row) -- and reports step cost as a ratio to it. A second reference row, a step with a
stale button (rejected by the generic checks), shows the fixed dispatch overhead.

    python -m benchmarks.engine_steps [--runs N] [--course PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from courses.loader import load_course_file
from engine import RunState, step
from engine.effects import SendPoll
from engine.events import (
    Button,
    Event,
    LLMReply,
    PollAnswer,
    PollSent,
    Start,
    Text,
    TimerFired,
    WebAppData,
)
from engine.model import Course

DEFAULT_COURSE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "courses" / "words_and_charts.yaml"
)
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
MAX_EVENTS = 10_000


def script(course: Course) -> list[Event]:
    """One deterministic playthrough: polls answered right and wrong in turn, the last
    button of every prompt pressed (for the default course: "more words" at every jump)."""
    state, events, answered = RunState.new(), [], 0
    state, effects = step(course, state, Start(), T0)
    events.append(Start())
    while not state.finished:
        if len(events) > MAX_EVENTS:
            raise RuntimeError("the scripted student is stuck; is the course finite?")
        event = _next_event(state, effects, answered)
        if isinstance(event, PollAnswer):
            answered += 1
        events.append(event)
        state, new_effects = step(course, state, event, T0 + timedelta(days=len(events)))
        effects = new_effects or effects
    return events


def _next_event(state: RunState, effects: list, answered: int) -> Event:
    if state.awaiting == "poll":
        if state.poll_id is None:
            return PollSent(f"poll-{state.poll_ref}", state.poll_ref or "")
        poll = next(e for e in reversed(effects) if isinstance(e, SendPoll))
        right = poll.correct_option_ids[:1] or (0,)
        wrong = tuple(i for i in range(len(poll.options)) if i not in right)[:1] or right
        return PollAnswer(state.poll_id, right if answered % 3 else wrong)
    if state.awaiting in ("button", "webapp"):
        buttons = [b for e in effects for b in getattr(e, "buttons", ()) if b.data]
        return Button(buttons[-1].data) if buttons else WebAppData("{}")
    if state.awaiting == "timer":
        return TimerFired(state.waits[-1].wait_id)
    if state.awaiting == "llm":
        return LLMReply("ok {STOP}")
    return Text("answer")


def _time(action: Callable[[], object], runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        action()
    return time.perf_counter() - started


def measure(course: Course, runs: int) -> list[tuple[str, int, float]]:
    """(name, operations, seconds) rows; the first row is the baseline."""
    events = script(course)
    states = [RunState.new()]
    for index, event in enumerate(events):
        states.append(step(course, states[-1], event, T0 + timedelta(days=index + 1))[0])
    if not states[-1].finished:
        raise RuntimeError("replaying the script did not finish the course")
    pairs = list(zip(states, events, strict=False))
    stale = [(s, Button(f"{s.seq + 1}:0")) for s in states[:-1]]

    def play() -> None:
        for index, (state, event) in enumerate(pairs):
            step(course, state, event, T0 + timedelta(days=index + 1))

    def round_trip() -> None:
        for state in states[1:]:
            RunState.from_json(state.to_json())

    def reject() -> None:
        for state, event in stale:
            step(course, state, event, T0)

    count = len(events)
    return [
        ("RunState JSON round trip (baseline)", count * runs, _time(round_trip, runs)),
        ("step(): course playthrough", count * runs, _time(play, runs)),
        ("step(): stale button, rejected", count * runs, _time(reject, runs)),
    ]


def render(rows: list[tuple[str, int, float]]) -> str:
    baseline_per_op = rows[0][2] / rows[0][1]
    lines = [f"{'measure':<38}{'ops':>9}{'seconds':>10}{'ops/s':>12}{'cost vs baseline':>18}"]
    for name, ops, seconds in rows:
        per_op = seconds / ops
        lines.append(
            f"{name:<38}{ops:>9}{seconds:>10.3f}{ops / seconds:>12,.0f}"
            f"{per_op / baseline_per_op:>17.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="playthroughs per measure")
    parser.add_argument("--course", type=Path, default=DEFAULT_COURSE, help="course YAML")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    result = load_course_file(args.course)
    if result.course is None:
        for diagnostic in result.errors:
            print(diagnostic, file=sys.stderr)
        return 1
    rows = measure(result.course, args.runs)
    print(f"{args.course.name}: {len(result.course.elements)} elements, {args.runs} runs")
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
