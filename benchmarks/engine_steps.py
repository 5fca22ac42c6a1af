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
from datetime import UTC, datetime
from pathlib import Path

from courses.loader import load_course_file
from engine import RunState, step
from engine.events import Button, Event, LLMReply, Text, TimerFired, WebAppData
from engine.model import Course
from engine.playthrough import Playthrough, drive
from engine.progress import Waiting

DEFAULT_COURSE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "courses" / "words_and_charts.yaml"
)
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
MAX_EVENTS = 10_000


def script(course: Course) -> list[tuple[Event, datetime]]:
    """One deterministic playthrough, every event fed with its time: polls answered right
    and wrong in turn, the last button of every prompt pressed (for the default course:
    "more words" at every jump), dialogs ended by the first reply."""
    playthrough = Playthrough(course, T0, chat_model=lambda _: LLMReply("ok {STOP}"))
    answered = 0

    def answer(waiting: Waiting) -> Event | None:
        nonlocal answered
        callbacks = playthrough.callbacks
        match waiting.kind:
            case "poll" if playthrough.poll is not None:
                poll = playthrough.poll
                right = poll.correct_option_ids[:1] or (0,)
                wrong = tuple(i for i in range(len(poll.options)) if i not in right)[:1] or right
                answered += 1
                return playthrough.poll_answer(wrong if answered % 3 == 1 else right)
            case "button" | "miniapp":
                return Button(callbacks[-1].data or "") if callbacks else WebAppData("{}")
            case "timer" if waiting.timer is not None:
                return TimerFired(waiting.timer.wait_id)
            case "text" | "dialog":
                return Text("answer")
        return None

    if drive(playthrough, answer, max_steps=MAX_EVENTS) != "finished":
        raise RuntimeError("the scripted student is stuck; is the course finite?")
    return playthrough.fed


def _time(action: Callable[[], object], runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        action()
    return time.perf_counter() - started


def measure(course: Course, runs: int) -> list[tuple[str, int, float]]:
    """(name, operations, seconds) rows; the first row is the baseline."""
    fed = script(course)
    states = [RunState.new()]
    for event, now in fed:
        states.append(step(course, states[-1], event, now)[0])
    if not states[-1].finished:
        raise RuntimeError("replaying the script did not finish the course")
    steps = [(state, event, now) for state, (event, now) in zip(states, fed, strict=False)]
    stale = [(s, Button(f"{s.seq + 1}:0")) for s in states[:-1]]

    def play() -> None:
        for state, event, now in steps:
            step(course, state, event, now)

    def round_trip() -> None:
        for state in states[1:]:
            RunState.from_json(state.to_json())

    def reject() -> None:
        for state, event in stale:
            step(course, state, event, T0)

    count = len(fed)
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
