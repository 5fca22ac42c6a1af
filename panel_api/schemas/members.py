from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from panel_api.messages import invalid
from panel_api.schemas.common import StrictIn
from storage.models import MemberRole

USERNAME_PATTERN = r"^@?[A-Za-z][A-Za-z0-9_]{3,31}$"


class MemberInvite(StrictIn):
    telegram_user_id: int | None = Field(None, ge=1, le=2**63 - 1)
    username: str | None = Field(
        None,
        pattern=USERNAME_PATTERN,
        description="resolved among the account's students (people who wrote to its bots)",
    )
    role: MemberRole

    @model_validator(mode="after")
    def _one_of(self) -> MemberInvite:
        if (self.telegram_user_id is None) == (self.username is None):
            raise invalid("member_who", "give exactly one of telegram_user_id or username")
        return self


class MemberRoleChange(StrictIn):
    role: MemberRole


class MemberOut(BaseModel):
    telegram_user_id: int
    username: str | None
    role: str
    created_at: datetime


class ApiKeyCreate(StrictIn):
    name: str = Field(min_length=1, max_length=100)
    role: MemberRole


class ApiKeyMaker(BaseModel):
    telegram_user_id: int
    username: str | None = Field(description="known while the maker is a member with a username")


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: str
    created_by: ApiKeyMaker | None = Field(
        description="the member the key acts for; null for an old key nobody knows the maker "
        "of, which is refused (make a new one)"
    )
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="shown once; only its SHA-256 is stored")
