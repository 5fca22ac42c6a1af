"""Percentiles and plain-text tables shared by the benchmarks.

Absolute numbers depend on the machine; every table therefore carries a ratio column
against a baseline row measured in the same run, which is the number worth comparing
between machines and commits.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values, so a table shows the gap
    instead of a made-up zero."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    fmt: str = ""  # format spec for numbers, e.g. ",.0f"


def render_table(columns: Sequence[Column], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned first column, right-aligned numbers; None and NaN print as '-'."""
    lines = ["".join(_cell(c.title, c, i, header=True) for i, c in enumerate(columns))]
    for row in rows:
        lines.append(
            "".join(
                _cell(value, c, i) for i, (c, value) in enumerate(zip(columns, row, strict=True))
            )
        )
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object, column: Column, index: int, *, header: bool = False) -> str:
    if header or isinstance(value, str):
        text = str(value)
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        text = "-"
    else:
        text = format(value, column.fmt)
    return text.ljust(column.width) if index == 0 else text.rjust(column.width)


def ratio(value: float, baseline: float) -> str:
    """`value / baseline` as '0.42x'; '-' when the baseline is zero or missing."""
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return "-"
    return f"{value / baseline:.2f}x"


def machine_line() -> str:
    """CPUs and load: on a shared machine the same code measures differently, so every
    report says how busy the machine was."""
    one, five, _ = os.getloadavg()
    return f"machine: {os.cpu_count()} CPUs, load average {one:.1f} (1 min) {five:.1f} (5 min)"
