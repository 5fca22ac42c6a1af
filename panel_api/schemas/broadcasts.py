from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from panel_api.messages import invalid
from panel_api.schemas.common import StrictIn
from storage.models import BroadcastAudience, BroadcastStatus

MAX_TEXT = 4096  # Telegram's limit for a message
MAX_CAPTION = 1024  # and for a caption, when the message carries media
MAX_BUTTONS = 8
_ID = Field(None, ge=1, le=2**63 - 1)


class ButtonIn(StrictIn):
    text: str = Field(min_length=1, max_length=64)
    url: str = Field(max_length=2048, pattern=r"^https://\S+$", description="an https:// link")


class AudienceIn(StrictIn):
    """Whom it is for: a deployment's students, or (no deployment) every student of a bot."""

    deployment_id: int | None = _ID
    bot_id: int | None = Field(None, ge=1, le=2**63 - 1, description="instead of a deployment")
    audience: BroadcastAudience = Field(
        description="all: everyone who started (but those who blocked the bot); active: "
        "in the middle of the course; finished: completed it; stuck: silent longer than the "
        "account's stuck threshold where the course waits for them; not_started: opened the "
        "deployment's link in the bot but did not start the course (offered the payment and "
        "did not pay, found it full, their link used up or expired, not on the allow-list), "
        "banned students left out"
    )
    token_id: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="only students who came by this link (for not_started: whose latest "
        "link it was)",
    )
    utm_source: str | None = Field(None, min_length=1, max_length=200)
    progress_min: int | None = Field(
        None, ge=0, le=100, description="percent of the course (not with not_started)"
    )
    progress_max: int | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _one_target(self) -> AudienceIn:
        if self.deployment_id is not None and self.bot_id is not None:
            raise invalid(
                "broadcast_two_targets", "give deployment_id or bot_id (a whole bot), not both"
            )
        if self.deployment_id is None and self.bot_id is None and self.token_id is None:
            raise invalid(
                "broadcast_no_target",
                "say whose students: deployment_id, or bot_id for a whole bot",
            )
        if self.bot_id is not None and self.token_id is not None:
            raise invalid(
                "broadcast_token_without_deployment",
                "token_id narrows one deployment's students: give deployment_id",
            )
        if (
            self.progress_min is not None
            and self.progress_max is not None
            and self.progress_min > self.progress_max
        ):
            raise invalid("progress_range", "progress_min must not be above progress_max")
        if self.audience is BroadcastAudience.NOT_STARTED and (
            self.progress_min is not None or self.progress_max is not None
        ):
            raise invalid(
                "broadcast_progress_not_started",
                "progress_min and progress_max narrow students who started the course: "
                "leave them out for not_started",
            )
        return self


class MessageIn(StrictIn):
    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        description="HTML formatting as Telegram takes it (<b>, <i>, <a href>...)",
    )
    media_url: str | None = Field(
        None, max_length=2048, pattern=r"^https://\S+$", description="a photo or video link"
    )
    buttons: list[ButtonIn] = Field(default_factory=list, max_length=MAX_BUTTONS)
    continue_button: bool = Field(
        False,
        description='add a "continue the course" button after the link buttons, worded in '
        "each student's language: pressing it shows the student the question (or other step) "
        "the course waits on again, or says that the next part comes by itself, or that they "
        "have no course in progress",
    )

    @model_validator(mode="after")
    def _caption_fits(self) -> MessageIn:
        if self.media_url is not None and len(self.text) > MAX_CAPTION:
            raise invalid(
                "caption_too_long",
                f"with a photo or video the text is its caption: at most {MAX_CAPTION} characters",
                limit=MAX_CAPTION,
            )
        return self


class BroadcastCreate(AudienceIn, MessageIn):
    send_at: datetime | None = Field(None, description="when to send (UTC if no offset); now")


class BroadcastTestIn(MessageIn):
    deployment_id: int | None = _ID
    bot_id: int | None = Field(None, ge=1, le=2**63 - 1)

    @model_validator(mode="after")
    def _one_target(self) -> BroadcastTestIn:
        if (self.deployment_id is None) == (self.bot_id is None):
            raise invalid(
                "broadcast_test_target", "give either deployment_id or bot_id (the bot that sends)"
            )
        return self


class AudienceCount(BaseModel):
    count: int = Field(description="students the broadcast would reach if sent now")


class TestSent(BaseModel):
    sent_to: int = Field(description="your Telegram id: the account's bot writes to you there")


class BroadcastOut(BaseModel):
    id: int
    status: BroadcastStatus
    bot_id: int
    deployment_id: int | None
    audience: BroadcastAudience
    filters: dict[str, Any]
    text: str
    continue_button: bool = Field(
        description='the message carries the "continue the course" button'
    )
    send_at: datetime
    created_at: datetime
    finished_at: datetime | None
    total: int = Field(description="recipients found so far (final once materialized)")
    materialized: bool = Field(description="every recipient has been found")
    queued: int
    sent: int
    failed: int
    blocked: int
    cancelled: int
