"""CSV the panel hands out (runs, analytics), safe to open in a spreadsheet.

A cell a spreadsheet would read as a formula is prefixed with ' so Excel, LibreOffice and
Google Sheets show it instead of running it: names, element ids and UTM sources are free
text a student or a creator typed (OWASP, "CSV injection"). Every CSV goes through `cell`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import chain

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text, every value through `cell`."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    return csv_lines(chain([header], rows))
