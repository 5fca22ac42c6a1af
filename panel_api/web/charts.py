"""Geometry of the server-side SVG charts (the templates draw what this computes).

Bars rather than a chart library: no script to load offline, nothing to build, and the
numbers are also in a table next to the chart for screen readers and copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from panel_api.schemas.analytics import FunnelStepOut

LABEL_WIDTH = 220
BAR_WIDTH = 480
ROW_HEIGHT = 26
BAR_HEIGHT = 18
SEGMENTS = ("completed", "in_progress", "dropped")


@dataclass(frozen=True)
class Segment:
    kind: str
    x: float
    width: float
    value: int


@dataclass(frozen=True)
class Row:
    y: float
    label: str
    reached: int
    segments: list[Segment]


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    label_width: int
    bar_height: int
    rows: list[Row]


def funnel(steps: Sequence[FunnelStepOut], runs: int) -> BarChart:
    """One row per element: completed, still in progress and dropped runs, stacked; the
    longest possible bar is every run of the version."""
    scale_max = max([runs, *(s.reached for s in steps)]) or 1
    rows = []
    for index, s in enumerate(steps):
        x = float(LABEL_WIDTH)
        segments = []
        for kind in SEGMENTS:
            value = getattr(s, kind)
            width = BAR_WIDTH * value / scale_max
            segments.append(Segment(kind, round(x, 2), round(width, 2), value))
            x += width
        rows.append(Row(index * ROW_HEIGHT, f"{s.element_id} ({s.type})", s.reached, segments))
    return BarChart(
        width=LABEL_WIDTH + BAR_WIDTH + 60,
        height=max(len(rows), 1) * ROW_HEIGHT,
        label_width=LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        rows=rows,
    )


def share(value: int, total: int) -> float:
    """Width in percent of a table cell's inline bar."""
    return round(100 * value / total, 1) if total else 0.0
