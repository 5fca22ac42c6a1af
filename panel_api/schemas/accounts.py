from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from panel_api.schemas.common import StrictIn

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class AccountCreate(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(None, pattern=SLUG_PATTERN, description="default: from the name")


class AccountRename(StrictIn):
    name: str = Field(min_length=1, max_length=200)


class LimitsOut(BaseModel):
    max_bots: int | None
    max_courses: int | None
    max_active_students: int | None


class UsageOut(BaseModel):
    bots: int
    courses: int
    active_students: int


class AccountOut(BaseModel):
    id: int
    slug: str
    name: str
    plan: str
    limits: LimitsOut
    usage: UsageOut
    role: str = Field(description="your role in this account")
    created_at: datetime
    deleted_at: datetime | None


class AdminAccountOut(BaseModel):
    id: int
    slug: str
    name: str
    plan: str
    limit_overrides: dict[str, int | None]
    limits: LimitsOut = Field(description="the plan's limits with the overrides applied")
    usage: UsageOut
    created_at: datetime
    deleted_at: datetime | None = Field(
        description="set while the account is suspended (soft-deleted): its bots are stopped"
    )


class AdminAccountUpdate(StrictIn):
    plan: str | None = Field(None, min_length=1, max_length=50)
    limits: dict[str, int | None] | None = Field(
        None, description="per-account overrides of the plan's limits; null = unlimited"
    )
