"""Geometry of the server-drawn charts (the templates draw what this computes).

Bars in HTML rather than a chart library or SVG text: no script to load offline, nothing to
build, labels wrap instead of being cut or shrunk on a phone, and the numbers are also in a
table next to each chart for screen readers and copying. A chart with nothing to show is
not drawn at all (the page says so instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from panel_api.schemas.analytics import DayOut, FunnelStepOut, QuestionBreakdownOut

SEGMENTS = ("completed", "in_progress", "dropped")


@dataclass(frozen=True)
class Segment:
    kind: str
    percent: float
    value: int


@dataclass(frozen=True)
class Bar:
    label: str
    total: int
    segments: list[Segment]


def funnel(steps: Sequence[FunnelStepOut], runs: int) -> list[Bar]:
    """One bar per element: completed, still in progress and dropped runs, stacked; the
    longest possible bar is every run of the version. Empty when no run reached anything."""
    if not any(s.reached for s in steps):
        return []
    scale = max([runs, *(s.reached for s in steps)])
    return [
        Bar(
            f"{s.element_id} ({s.type})",
            s.reached,
            [Segment(kind, share(getattr(s, kind), scale), getattr(s, kind)) for kind in SEGMENTS],
        )
        for s in steps
    ]


def timeline(days: Sequence[DayOut]) -> list[Bar]:
    """Per day: started runs and finished runs side by side (as two one-segment bars' worth
    of widths); empty when nothing started or ended in the period."""
    scale = max([max(d.started, d.finished, d.dropped) for d in days], default=0)
    if not scale:
        return []
    return [
        Bar(
            d.day.isoformat(),
            d.started,
            [
                Segment("started", share(d.started, scale), d.started),
                Segment("completed", share(d.finished, scale), d.finished),
                Segment("dropped", share(d.dropped, scale), d.dropped),
            ],
        )
        for d in days
    ]


def answers(question: QuestionBreakdownOut) -> list[Bar]:
    """One bar per answer, as a share of the runs that answered; empty when none did."""
    if not question.runs:
        return []
    return [
        Bar(a.answer, a.runs, [Segment("completed", share(a.runs, question.runs), a.runs)])
        for a in question.answers
    ]


def share(value: int, total: int) -> float:
    """Width in percent of a bar."""
    return round(100 * value / total, 1) if total else 0.0
