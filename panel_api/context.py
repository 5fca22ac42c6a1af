"""Everything a request handler needs from the process, in one object handed to `create_app`.

Routers reach it through `request.app.state.ctx` (see `deps.get_ctx`), so tests can build an
app around a test database, a fake Telegram and a fake Google Sheets session without patching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import gspread
from redis.asyncio import Redis

from courses.workers import CourseWorkers
from panel_api.health import HealthProbe
from panel_api.services.sheets_access import guarded_sheets_client
from panel_api.settings import PanelSettings
from storage.config import Settings
from storage.crypto import SecretBox
from storage.db import Database
from storage.outbound import OutboundClient

SheetsClientFactory = Callable[[Mapping[str, Any]], gspread.Client]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PanelContext:
    """`workers` do the course work of requests (the process owns them and stops them);
    `outbound` is the guarded client for calls on a tenant's behalf (by default one for the
    settings' allow-list); `sheets_client` turns a stored service-account JSON into a gspread
    client (by default one that sends through `outbound`), called on the loop. `redis` holds
    the runtime's per-bot keys, erased with a purged account (None: tests of routes that
    never touch Redis)."""

    db: Database
    box: SecretBox
    settings: Settings
    panel: PanelSettings
    health: HealthProbe
    workers: CourseWorkers
    outbound: OutboundClient = None  # type: ignore[assignment]  # set in __post_init__
    sheets_client: SheetsClientFactory = None  # type: ignore[assignment]  # set in __post_init__
    clock: Callable[[], datetime] = field(default=utc_now)
    redis: Redis | None = None

    def __post_init__(self) -> None:
        if self.outbound is None:
            self.outbound = OutboundClient.allowing(self.settings.outbound_allow)
        if self.sheets_client is None:
            self.sheets_client = partial(guarded_sheets_client, outbound=self.outbound)
