from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from panel_api.schemas.common import StrictIn
from storage.models import TokenKind

Utm = Field(None, min_length=1, max_length=200)


class UtmIn(StrictIn):
    source: str | None = Utm
    medium: str | None = Utm
    campaign: str | None = Utm
    content: str | None = Utm
    term: str | None = Utm


class TokenCreate(StrictIn):
    kind: TokenKind = Field(
        description="public: anyone, unlimited; group: up to max_uses students; personal: "
        "one student (bound_telegram_user_id) or a single use; external: issued to an "
        "outside system, may carry its own token value"
    )
    token: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,32}$", description="default: 16 random characters"
    )
    label: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description='what people call the link ("7B", "VK ad"); runs can be filtered by it',
    )
    max_uses: int | None = Field(None, ge=1, le=10_000_000)
    bound_telegram_user_id: int | None = Field(None, ge=1, le=2**63 - 1)
    expires_at: datetime | None = Field(None, description="UTC if no offset is given")
    utm: UtmIn | None = None


class TokenOut(BaseModel):
    id: int
    deployment_id: int
    kind: str
    token: str
    label: str | None
    deep_link: str = Field(description="https://t.me/<bot>?start=cd_<deployment>_<token>")
    max_uses: int | None
    uses: int = Field(description="starts counted against the token")
    runs_started: int
    runs_completed: int
    bound_telegram_user_id: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    utm: dict[str, str | None]
