"""Everything a request handler needs from the process, in one object handed to `create_app`.

Routers reach it through `request.app.state.ctx` (see `deps.get_ctx`), so tests can build an
app around a test database, a fake Telegram and a fake Google Sheets session without patching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import gspread

from courses.gsheets import client_from_service_account
from courses.workers import CourseWorkers
from panel_api.health import HealthProbe
from panel_api.settings import PanelSettings
from storage.config import Settings
from storage.crypto import SecretBox
from storage.db import Database

SheetsClientFactory = Callable[[Mapping[str, Any]], gspread.Client]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PanelContext:
    """`sheets_client` turns a stored service-account JSON into a gspread client; `workers`
    do the course work of requests (the process owns them and stops them)."""

    db: Database
    box: SecretBox
    settings: Settings
    panel: PanelSettings
    health: HealthProbe
    workers: CourseWorkers
    sheets_client: SheetsClientFactory = client_from_service_account
    clock: Callable[[], datetime] = field(default=utc_now)
