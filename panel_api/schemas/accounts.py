from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, field_validator

from panel_api.messages import invalid
from panel_api.schemas.common import StrictIn
from storage.run_activity import is_time_zone

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
MAX_STUCK_MINUTES = 525_600  # a year


class AccountCreate(StrictIn):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(None, pattern=SLUG_PATTERN, description="default: from the name")


class AccountUpdate(StrictIn):
    """What the account's settings change; the fields left out stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=200)
    time_zone: str | None = Field(
        None,
        max_length=64,
        description="an IANA zone name such as Europe/Moscow; the panel shows times in it "
        "and reads the times people type (token expiry, date filters) in it",
    )
    stuck_after_minutes: int | None = Field(
        None,
        ge=1,
        le=MAX_STUCK_MINUTES,
        description="an active run that has waited this long for its student is marked stuck",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and not is_time_zone(value):
            raise invalid(
                "time_zone_unknown",
                "'{value}' is not a time zone name; use one like Europe/Moscow, Asia/Almaty or UTC",
                value=value,
            )
        return value


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
    time_zone: str = Field(description="IANA zone the panel shows and reads times in")
    stuck_after_minutes: int = Field(
        description="an active run waiting this long for its student counts as stuck"
    )
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


class DashboardOut(BaseModel):
    """The account's runs right now; "today" is the account's day in its time zone."""

    day: date
    day_starts_at: datetime
    day_ends_at: datetime
    time_zone: str
    stuck_after_minutes: int
    active: int = Field(description="runs going on")
    stuck: int = Field(description="active runs waiting for their student too long")
    started_today: int
    finished_today: int = Field(description="runs completed today")
    dropped_today: int = Field(
        description="runs that ended today without finishing (stopped, blocked, declined, halted)"
    )
