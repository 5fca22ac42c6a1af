from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

ACTION_PATTERN = r"^[a-z_]{1,30}(\.[a-z_]{1,30}){0,3}$"


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
