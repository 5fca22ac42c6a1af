"""A fake Google Sheets API behind a `requests`-compatible session, for gspread offline.

`gspread.Client(auth=None, session=FakeSheetsSession(...))` makes gspread send its HTTP calls
here instead of to Google; the whole gspread stack (URL building, A1 quoting, response
parsing, error classes) still runs for real. Implemented: spreadsheet metadata and
`values.get` of a whole worksheet, answered like the v4 API (formatted strings, trailing
empty cells and rows trimmed), 404 for unknown spreadsheets, 403 for unshared ones.
`answer_all(status, body)` makes every request get that raw answer instead (an outage, a
rate limit, a non-JSON page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from requests import Response

_BASE_PATH = "/v4/spreadsheets/"


@dataclass
class FakeSpreadsheet:
    title: str
    worksheets: dict[str, list[list[str]]]
    shared: bool = True


@dataclass
class FakeSheetsSession:
    spreadsheets: dict[str, FakeSpreadsheet] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    scripted: tuple[int, bytes, str] | None = None

    def answer_all(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.scripted = (status, body, content_type)

    def add(
        self, key: str, title: str, worksheets: dict[str, list[list[str]]], *, shared: bool = True
    ) -> str:
        """Register a spreadsheet; returns its browser URL."""
        self.spreadsheets[key] = FakeSpreadsheet(title, worksheets, shared)
        return f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0"

    def request(self, method: str, url: str, **_kwargs: Any) -> Response:
        self.requests.append((method.upper(), url))
        if self.scripted is not None:
            status, body, content_type = self.scripted
            response = Response()
            response.status_code = status
            response._content = body
            response.headers["Content-Type"] = content_type
            return response
        path = urlsplit(url).path
        if method.lower() != "get" or not path.startswith(_BASE_PATH):
            return _error(400, "INVALID_ARGUMENT", f"the fake does not implement {method} {path}")
        key, _, rest = path[len(_BASE_PATH) :].partition("/")
        sheet = self.spreadsheets.get(key)
        if sheet is None:
            return _error(404, "NOT_FOUND", "Requested entity was not found.")
        if not sheet.shared:
            return _error(403, "PERMISSION_DENIED", "The caller does not have permission")
        if not rest:
            return _json(200, _metadata(key, sheet))
        if rest.startswith("values/"):
            return self._values(sheet, unquote(rest[len("values/") :]))
        return _error(404, "NOT_FOUND", "Requested entity was not found.")

    def _values(self, sheet: FakeSpreadsheet, range_name: str) -> Response:
        title = range_name.split("!", 1)[0]
        if title.startswith("'") and title.endswith("'"):
            title = title[1:-1].replace("''", "'")
        rows = sheet.worksheets.get(title)
        if rows is None:
            return _error(400, "INVALID_ARGUMENT", f"Unable to parse range: {range_name}")
        trimmed = [_trim(row) for row in rows]
        while trimmed and not trimmed[-1]:
            trimmed.pop()
        body: dict[str, Any] = {"range": f"'{title}'!A1:Z{len(rows)}", "majorDimension": "ROWS"}
        if trimmed:
            body["values"] = trimmed
        return _json(200, body)


def _trim(row: list[str]) -> list[str]:
    cells = [str(cell) for cell in row]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _metadata(key: str, sheet: FakeSpreadsheet) -> dict[str, Any]:
    return {
        "spreadsheetId": key,
        "properties": {"title": sheet.title, "locale": "en_US", "timeZone": "Etc/GMT"},
        "sheets": [
            {
                "properties": {
                    "sheetId": index,
                    "title": title,
                    "index": index,
                    "sheetType": "GRID",
                    "gridProperties": {
                        "rowCount": max(len(rows), 1),
                        "columnCount": max((len(r) for r in rows), default=1),
                    },
                }
            }
            for index, (title, rows) in enumerate(sheet.worksheets.items())
        ],
    }


def _json(status: int, body: dict[str, Any]) -> Response:
    response = Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json; charset=UTF-8"
    response.encoding = "utf-8"
    return response


def _error(status: int, reason: str, message: str) -> Response:
    return _json(status, {"error": {"code": status, "message": message, "status": reason}})
