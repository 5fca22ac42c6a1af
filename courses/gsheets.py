"""Import a course from a Google Sheet: one row per element, turned into legacy YAML.

Creators who prefer a spreadsheet keep the course there; the panel reads it with a service
account (shared on the sheet as Viewer), builds the same YAML a creator would have written and
runs the normal loader on it, so a sheet course is validated, stored and played exactly like
an uploaded one. Diagnostics point at sheet rows (`line` = the row number Sheets shows).

Sheet format (first non-empty row = header; column names are case-insensitive):

- `id`, `type` — required columns. A row with an `id` starts an element of that `type`
  (message, quiz, jump, ...); elements keep the sheet's row order.
- Any other column is the element field of the same name, as in YAML: `text`, `button`,
  `parse_mode`, `link_preview`, `correct_answer`, `feedback_correct`, `feedback_incorrect`,
  `feedback_partial`, `input_type`, `prompt`, `model`, `temperature`, `prefix`, `no_mistakes`,
  `wait`, `goto`, `continue`, `yes_text`, `no_text`, `app_url`, `title`, ... An empty cell
  means "field not set". Values are read as text, exactly as shown ("007" stays "007"); yes/no
  and numbers are understood where the field needs them.
- `media` — one or more URLs, separated by spaces or line breaks.
- Sub-rows (empty `id`) attach to the element above, by their `type`:
  - `answer` (quiz, question, multi_choice): columns `text`, `correct` (yes/no), `feedback`;
  - `option` (jump, message with options): columns `text`, `goto`, `wait`, `wait_text`;
  - `score` (test): columns `threshold` (error %, a whole number) and `text` (the verdict).
- `yaml` — optional escape hatch: a YAML mapping merged into the element (or the answer /
  option) for anything without a column, e.g. a dialog's `conversation`.
- Rows whose `id` starts with `#` are comments; empty rows are skipped.

Cells are read with `get_all_values` (formatted strings, never numericised): gspread's
`get_all_records` would turn "007" into 7 unless told `numericise_ignore=["all"]`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import gspread
import yaml
from google.auth.exceptions import GoogleAuthError
from gspread.exceptions import (
    APIError,
    NoValidUrlKeyFound,
    SpreadsheetNotFound,
    WorksheetNotFound,
)
from requests import RequestException

from courses.diagnostics import Diagnostic
from courses.loader import LoadResult, load_course
from courses.problem_keys import Problem

SUB_ROWS = {"answer": "answers", "option": "options", "score": "score"}
_STRUCTURAL = ("id", "type", "yaml")
_KEY = re.compile(r"[A-Za-z0-9_-]{10,200}")


class SheetAccessError(RuntimeError):
    """The sheet could not be read (not shared, not found, bad credentials); say why."""


@dataclass(frozen=True)
class SheetCourse:
    """The YAML built from a sheet and the loader's verdict on it (rows in `line`)."""

    title: str
    source_text: str
    result: LoadResult


class _Dumper(yaml.SafeDumper):
    """Multi-line texts as `|` blocks and list items indented, like hand-written courses."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and "\r" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def spreadsheet_key(reference: str) -> str:
    """The spreadsheet id from a browser URL or the bare id; ValueError otherwise."""
    reference = reference.strip()
    if reference.startswith(("http://", "https://")):
        try:
            return gspread.utils.extract_id_from_url(reference)
        except NoValidUrlKeyFound:
            raise ValueError(
                "not a Google Sheets URL (expected .../spreadsheets/d/<id>/...)"
            ) from None
    if not _KEY.fullmatch(reference):
        raise ValueError("expected a Google Sheets URL or spreadsheet id")
    return reference


def fetch_rows(
    client: gspread.Client, reference: str, worksheet: str | None = None, *, reader: str = ""
) -> tuple[str, list[list[str]]]:
    """(title, rows) of a worksheet (the first one by default). Blocking: call in a thread.

    `reader` (the service account's e-mail) makes "share the sheet with ..." errors precise.
    Errors say what went wrong in our words: what Google wrote (an error message, a sign-in
    failure's body) is never passed on, since the answer to an import goes back to a tenant.
    """
    key = spreadsheet_key(reference)
    who = reader or "the service account"
    try:
        spreadsheet = client.open_by_key(key)
        sheet = spreadsheet.worksheet(worksheet) if worksheet else spreadsheet.sheet1
        rows = sheet.get_all_values()
    except SpreadsheetNotFound:
        raise SheetAccessError(_api_error(404, key, who)) from None
    except PermissionError:
        raise SheetAccessError(_api_error(403, key, who)) from None
    except WorksheetNotFound:
        raise SheetAccessError(f"the spreadsheet has no worksheet named {worksheet!r}") from None
    except APIError as exc:
        raise SheetAccessError(_api_error(exc.response.status_code, key, who)) from None
    except GoogleAuthError:
        raise SheetAccessError(_api_error(401, key, who)) from None
    except RequestException as exc:
        raise SheetAccessError(f"Google Sheets is unreachable ({type(exc).__name__})") from None
    title = spreadsheet.title if not worksheet else f"{spreadsheet.title} / {worksheet}"
    return title, [[str(cell) for cell in row] for row in rows]


def _api_error(status: int, key: str, who: str) -> str:
    """What an HTTP status from Google means for the creator, in our words."""
    if status == 404:
        return f"spreadsheet {key} not found: check the link and share it with {who}"
    if status == 403:
        return f"no access to spreadsheet {key}: share it with {who}"
    if status == 401:
        return (
            f"{who} could not sign in to Google: check that its key is current "
            "(not deleted or disabled in Google Cloud)"
        )
    if status == 429:
        return "Google Sheets is limiting requests right now: try again in a minute"
    return f"Google Sheets answered HTTP {status}"


def rows_to_course(rows: Sequence[Sequence[str]], *, title: str = "sheet") -> SheetCourse:
    """Build YAML from sheet rows and load it; every problem comes back as a diagnostic."""
    builder = _SheetBuilder(title)
    builder.read(rows)
    text, starts, start_rows = builder.to_yaml()
    loaded = load_course(text, source_name=title)
    mapped = [builder.to_row(d, starts, start_rows) for d in loaded.diagnostics]
    diagnostics = tuple(
        sorted(
            [*builder.problems, *mapped],
            key=lambda d: (d.line if d.line is not None else 0, d.severity != "error"),
        )
    )
    ok = loaded.course is not None and not any(d.is_error for d in builder.problems)
    return SheetCourse(title, text, LoadResult(loaded.course if ok else None, diagnostics))


class _SheetBuilder:
    def __init__(self, title: str) -> None:
        self.title = title
        self.problems: list[Diagnostic] = []
        self.elements: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, int] = {}  # element id -> sheet row
        self._columns: list[str] = []
        self._current: str | None = None

    def read(self, rows: Sequence[Sequence[str]]) -> None:
        header_row = next((i for i, row in enumerate(rows) if any(c.strip() for c in row)), None)
        if header_row is None:
            self._error(
                "the sheet is empty: expected a header row with id and type",
                None,
                Problem.SHEET_EMPTY,
            )
            return
        if not self._read_header(rows[header_row], header_row + 1):
            return
        for index in range(header_row + 1, len(rows)):
            self._read_row(rows[index], index + 1)
        if not self.elements:
            self._error(
                "the sheet has no elements (rows with an id)", None, Problem.SHEET_NO_ELEMENTS
            )

    def _read_header(self, header: Sequence[str], row: int) -> bool:
        self._columns = [cell.strip().lower() for cell in header]
        seen: set[str] = set()
        for name in self._columns:
            if name and name in seen:
                self._error(
                    f"column {name!r} appears twice in the header",
                    row,
                    Problem.SHEET_COLUMN_TWICE,
                    {"name": name},
                    field=name,
                )
            seen.add(name)
        missing = [name for name in ("id", "type") if name not in seen]
        if missing:
            self._error(
                f"the header row has no {' and '.join(missing)} column",
                row,
                Problem.SHEET_NO_COLUMN,
                {"name": ", ".join(missing)},
            )
        return not missing

    def _cells(self, values: Sequence[str]) -> dict[str, str]:
        cells: dict[str, str] = {}
        for column, value in zip(self._columns, values, strict=False):
            if column and value.strip():
                cells[column] = value
        return cells

    def _read_row(self, values: Sequence[str], row: int) -> None:
        cells = self._cells(values)
        if not cells:
            return
        element_id = cells.pop("id", "").strip()
        kind = cells.pop("type", "").strip()
        if element_id.startswith("#"):
            return
        extra = self._yaml_cell(cells.pop("yaml", None), row)
        if element_id:
            self._element(element_id, kind, cells, extra, row)
        elif kind.lower() in SUB_ROWS:
            self._sub_row(kind.lower(), cells, extra, row)
        else:
            self._error(
                "a row without an id must be an answer, option or score row "
                f"(type column), got {kind or 'nothing'!r}",
                row,
                Problem.SHEET_ROW_WITHOUT_ID,
            )

    def _element(
        self, element_id: str, kind: str, cells: dict[str, str], extra: dict[str, Any], row: int
    ) -> None:
        if element_id in self.elements:
            self._error(
                f"id {element_id!r} is already used in row {self.rows[element_id]}",
                row,
                Problem.SHEET_ID_TWICE,
                {"id": element_id, "row": self.rows[element_id]},
            )
            self._current = None
            return
        data: dict[str, Any] = {"type": kind} if kind else {}
        for column, value in cells.items():
            data[column] = value.split() if column == "media" else value
        data.update(extra)
        self.elements[element_id] = data
        self.rows[element_id] = row
        self._current = element_id

    def _sub_row(self, kind: str, cells: dict[str, str], extra: dict[str, Any], row: int) -> None:
        if self._current is None:
            self._error(
                f"this {kind} row has no element above it", row, Problem.SHEET_ROW_WITHOUT_ELEMENT
            )
            return
        element = self.elements[self._current]
        if kind == "score":
            threshold = cells.get("threshold", "").strip()
            if not threshold.isascii() or not threshold.isdigit():
                self._error(
                    "a score row needs a whole-number threshold",
                    row,
                    Problem.SHEET_BAD_THRESHOLD,
                    field="threshold",
                )
                return
            element.setdefault("score", {})[int(threshold)] = cells.get("text", "")
            return
        item: dict[str, Any] = dict(cells)
        item.update(extra)
        element.setdefault(SUB_ROWS[kind], []).append(item)

    def _yaml_cell(self, text: str | None, row: int) -> dict[str, Any]:
        if text is None:
            return {}
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            self._error(
                f"the yaml cell is not valid YAML: {exc}", row, Problem.SHEET_BAD_YAML, field="yaml"
            )
            return {}
        if not isinstance(value, dict):
            self._error(
                "the yaml cell must hold a mapping (key: value lines)",
                row,
                Problem.SHEET_YAML_NOT_MAPPING,
                field="yaml",
            )
            return {}
        return {str(key): item for key, item in value.items()}

    def to_yaml(self) -> tuple[str, list[int], list[int]]:
        """The YAML text, the first line of each element's chunk, and its sheet row."""
        chunks: list[str] = []
        starts: list[int] = []
        start_rows: list[int] = []
        line = 1
        for element_id, data in self.elements.items():
            chunk = yaml.dump(
                {element_id: data},
                Dumper=_Dumper,
                allow_unicode=True,
                sort_keys=False,
                default_flow_style=False,
                width=4096,
            )
            starts.append(line)
            start_rows.append(self.rows[element_id])
            chunks.append(chunk)
            line += chunk.count("\n") + 1  # chunks are joined by a blank line
        return "\n".join(chunks), starts, start_rows

    def to_row(
        self, diagnostic: Diagnostic, starts: list[int], start_rows: list[int]
    ) -> Diagnostic:
        """A loader diagnostic re-pointed from a YAML line to the element's sheet row."""
        row: int | None = None
        if diagnostic.element_id in self.rows:
            row = self.rows[diagnostic.element_id]
        elif diagnostic.line is not None and starts:
            chunk = bisect.bisect_right(starts, diagnostic.line) - 1
            row = start_rows[max(chunk, 0)]
        return replace(diagnostic, line=row, source=self.title)

    def _error(
        self,
        message: str,
        row: int | None,
        key: Problem,
        params: Mapping[str, str | int] | None = None,
        *,
        field: str | None = None,
    ) -> None:
        self.problems.append(
            Diagnostic("error", message, None, field, row, self.title, key, dict(params or {}))
        )
