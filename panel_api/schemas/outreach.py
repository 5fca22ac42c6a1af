"""Reminder rules and teacher notifications."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from panel_api.messages import invalid
from panel_api.schemas.common import StrictIn

MAX_AFTER_MINUTES = 60 * 24 * 90  # a nudge after at most 90 days of silence
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def clock_minutes(value: str) -> int:
    """ "22:30" -> 1350 (minutes of the day); ValueError in plain words otherwise."""
    match = _CLOCK.match(value)
    if match is None:
        raise invalid("time_of_day", "'{value}' is not a time of day like 22:00", value=value)
    return int(match[1]) * 60 + int(match[2])


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class QuietHoursIn(StrictIn):
    start: str = Field(description='"HH:MM" in the account\'s time zone, e.g. "22:00"')
    end: str = Field(description='"HH:MM"; earlier than start spans midnight, e.g. "09:00"')

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        clock_minutes(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursIn:
        if self.start == self.end:
            raise invalid("quiet_hours_same", "quiet hours must start and end at different times")
        return self


class ReminderIn(StrictIn):
    after_minutes: int = Field(
        ge=1,
        le=MAX_AFTER_MINUTES,
        description="send the nudge once a run has waited this long for the student",
    )
    max_count: int = Field(1, ge=1, le=20, description="at most this many nudges per silence")
    text: str = Field(min_length=1, max_length=4096)
    quiet_hours: QuietHoursIn | None = None

    @field_validator("text")
    @classmethod
    def _words(cls, value: str) -> str:
        if not value.strip():
            raise invalid("reminder_blank", "the reminder text must not be blank")
        return value


class QuietHoursOut(BaseModel):
    start: str
    end: str


class ReminderOut(BaseModel):
    id: int
    deployment_id: int
    after_minutes: int
    max_count: int
    text: str
    quiet_hours: QuietHoursOut | None
    created_at: datetime


class NotificationIn(StrictIn):
    on_finish: bool = False
    on_fail: bool = False
    fail_below: int | None = Field(
        None, ge=1, le=100, description="tell when a test scores below this percent"
    )
    on_stuck: bool = False
    digest_hour: int | None = Field(
        None,
        ge=0,
        le=23,
        description="one digest a day at this hour (account's time zone) instead of each event",
    )

    @model_validator(mode="after")
    def _threshold(self) -> NotificationIn:
        if self.on_fail and self.fail_below is None:
            raise invalid(
                "fail_below_needed",
                "give fail_below (a percent from 1 to 100) to hear about failed tests",
            )
        return self


class NotificationOut(BaseModel):
    active: bool = Field(description="false: the member never opted in (everything off)")
    deployment_id: int
    telegram_user_id: int
    on_finish: bool
    on_fail: bool
    fail_below: int | None
    on_stuck: bool
    digest_hour: int | None
    refused: bool = Field(
        description="Telegram refused the last message: press Start in the bot, then save again"
    )
    bot_username: str
