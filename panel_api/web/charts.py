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


@dataclass(frozen=True)
class Column:
    x: float
    kind: str
    height: float
    value: int
    day: str


@dataclass(frozen=True)
class Columns:
    """Day columns in a COLUMN_UNITS-wide, COLUMN_HEIGHT-tall box stretched to the page's
    width (no text inside, so nothing shrinks on a phone); first and last day under it."""

    width: int
    height: int
    columns: list[Column]
    first_day: str
    last_day: str


COLUMN_UNITS = 10
COLUMN_HEIGHT = 100
TIMELINE_KINDS = ("started", "completed", "dropped")


def timeline(days: Sequence[DayOut]) -> Columns | None:
    """Per day three thin columns: started, finished, left unfinished; None when nothing
    started or ended in the period."""
    scale = max([max(d.started, d.finished, d.dropped) for d in days], default=0)
    if not scale:
        return None
    columns = []
    for index, d in enumerate(days):
        for offset, (kind, value) in enumerate(
            zip(TIMELINE_KINDS, (d.started, d.finished, d.dropped), strict=True)
        ):
            if value:
                columns.append(
                    Column(
                        index * COLUMN_UNITS + 0.5 + offset * 3,
                        kind,
                        round(COLUMN_HEIGHT * value / scale, 2),
                        value,
                        d.day.isoformat(),
                    )
                )
    return Columns(
        len(days) * COLUMN_UNITS,
        COLUMN_HEIGHT,
        columns,
        days[0].day.isoformat(),
        days[-1].day.isoformat(),
    )


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
