"""The account's own LLM endpoint and YooKassa shop: secrets go in, only "is one set" comes out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from panel_api.messages import invalid
from panel_api.schemas.common import StrictIn

# Printable ASCII without spaces: a key travels in an HTTP header, where a newline or a
# space would break the request (or smuggle another header) at the runtime's first call.
KEY_PATTERN = r"^[\x21-\x7e]+$"
MAX_TOKEN_LIMIT = 10**12  # far above any real month; keeps the value inside BIGINT
MAX_LLM_TIMEOUT_S = 600.0  # a student waiting longer than this has left the chat


class LlmSettingsIn(StrictIn):
    base_url: str | None = Field(
        None,
        min_length=8,
        max_length=500,
        description=(
            "OpenAI-compatible API base, e.g. https://api.openai.com/v1: https, on public "
            "internet addresses (unless the operator allows a private one); "
            "empty keeps the platform's default endpoint"
        ),
        examples=["https://api.openai.com/v1"],
    )
    api_key: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        pattern=KEY_PATTERN,
        description=(
            "write-only: stored encrypted, never returned. Omitted: the stored key is kept "
            "as long as base_url stays the same (a new base_url without a key drops it)"
        ),
    )
    model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=KEY_PATTERN,
        description="chat model for dialog elements; empty: the platform default",
    )
    transcription_model: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=KEY_PATTERN,
        description="speech-to-text model for voice answers (own endpoint only); default whisper-1",
    )
    monthly_token_limit: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKEN_LIMIT,
        description="tokens (prompt + completion) per calendar month (UTC); empty: no limit",
    )
    timeout_s: float | None = Field(
        None,
        gt=0,
        le=MAX_LLM_TIMEOUT_S,
        description=(
            "seconds one LLM call may take before the student is told to try again; "
            "empty: the platform default (COURSEBOT_LLM_TIMEOUT)"
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_base_url(value)


def check_base_url(value: str) -> str:
    """An http(s) URL with a host, and nothing a key could hide in (user:password, query).
    Where it may point (https, public addresses) is the outbound policy's to say."""
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise invalid(
            "base_url_spaces", "the base URL must not contain spaces or control characters"
        )
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise invalid("base_url_invalid", "the base URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(
            "base_url_scheme",
            "the base URL must start with https:// (http:// only for an endpoint the "
            "operator allows) and name a host",
        )
    if parts.username is not None or parts.password is not None:
        raise invalid(
            "base_url_credentials", "put the key in the API key field, not in the base URL"
        )
    if parts.query or parts.fragment:
        raise invalid(
            "base_url_query", "the base URL must not have a query (?…) or a fragment (#…)"
        )
    return value.rstrip("/")


class LlmSettingsOut(BaseModel):
    configured: bool = Field(description="the account has its own settings (else: defaults)")
    base_url: str | None = Field(None, description="None: the platform's default endpoint")
    api_key_set: bool = False
    model: str | None = None
    transcription_model: str | None = None
    monthly_token_limit: int | None = Field(None, description="None: no limit")
    timeout_s: float | None = Field(None, description="None: the platform default")
    period_start: date = Field(description="first day (UTC) of the month the usage counts")
    tokens_used: int = Field(description="prompt + completion tokens spent this month")
    tokens_left: int | None = Field(None, description="None when there is no limit")
    updated_at: datetime | None = None


class YooKassaIn(StrictIn):
    # The same rules as PaymentService.set_credentials.
    shop_id: str = Field(
        min_length=1,
        max_length=20,
        pattern=r"^[0-9]+$",
        description="shopId from YooKassa's cabinet (digits)",
        examples=["123456"],
    )
    secret_key: str = Field(
        min_length=8,
        max_length=256,
        pattern=KEY_PATTERN,
        description="write-only: the shop's secret key (live_... or test_...), stored encrypted",
    )


NotificationUrlStatus = Literal["ok", "public_url_missing", "public_url_not_https"]


class YooKassaOut(BaseModel):
    configured: bool
    shop_id: str | None = None
    secret_key_set: bool = False
    updated_at: datetime | None = None
    notification_url: str | None = Field(
        None,
        description=(
            "paste into YooKassa: Integration → HTTP notifications (events payment.succeeded, "
            "payment.canceled, refund.succeeded); None when COURSEBOT_PUBLIC_URL is not set"
        ),
    )
    notification_url_status: NotificationUrlStatus
    notification_url_note: str | None = Field(
        None, description="why the URL is missing or will not receive notifications"
    )
