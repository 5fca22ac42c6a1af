"""The process's settings: one typed object, read from the environment once at start-up.

`Settings.from_env()` is called by the runner (and by tests that set variables); everything
else receives the object. A malformed variable stops the start with a message naming it,
never echoing a value that might be a secret. Each field's alias is its environment variable
and its description is the line `coursebot up --help` shows, so the list cannot drift.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.crypto import Secret
from storage.outbound.policy import ALLOW_SETTING, AllowList

TRUSTED_PROXIES_ENV = "COURSEBOT_TRUSTED_PROXIES"
SUPERADMINS_ENV = "COURSEBOT_SUPERADMINS"
LOG_FORMAT_ENV = "COURSEBOT_LOG_FORMAT"
LOG_FORMATS = ("text", "json")

DEFAULT_LOGIN_MAX_AGE_S = 24 * 3600
DEFAULT_SESSION_MAX_AGE_S = 7 * 24 * 3600
# A school, its sandbox and one more project; more is what the limit is there to stop (every
# account gets the free plan's bots and students anew). Operators raise it for their users.
DEFAULT_MAX_ACCOUNTS_PER_USER = 3


class SettingsError(ValueError):
    """A setting is malformed: reported at start-up, naming the variable."""


def default_course_workers() -> int:
    """One CPU stays with the event loop; at least one worker process exists."""
    return max(1, (os.cpu_count() or 1) - 1)


def parse_trusted_proxies(raw: str) -> tuple[str, ...]:
    """`"10.0.0.5, 10.1.0.0/16"` -> the networks, normalised ("10.0.0.5/32", ...); anything
    but IP addresses and networks is a start-up error (a typo must not trust nobody, or all)."""
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise SettingsError(
                f"{TRUSTED_PROXIES_ENV} must be comma-separated IP addresses or networks "
                f"(e.g. 10.0.0.5,10.1.0.0/16), got {part!r}"
            ) from None
    return tuple(networks)


def parse_superadmins(raw: str) -> frozenset[int]:
    """`"123, 456"` -> {123, 456}; anything but positive integers is a start-up error."""
    ids: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isascii() or not part.isdigit() or int(part) <= 0:
            raise SettingsError(
                f"{SUPERADMINS_ENV} must be comma-separated Telegram user ids, got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _env_name(info: ValidationInfo) -> str:
    alias = Settings.model_fields[info.field_name or ""].validation_alias
    return alias if isinstance(alias, str) else str(info.field_name)


def _whole_number(minimum: int) -> BeforeValidator:
    """A whole number of at least `minimum`; anything else names the variable."""

    def check(raw: object, info: ValidationInfo) -> object:
        if isinstance(raw, int) and not isinstance(raw, bool):
            value: int | None = raw
        elif isinstance(raw, str):
            try:
                value = int(raw.strip())
            except ValueError:
                value = None
        else:
            return raw  # the type check that follows refuses it
        if value is None or value < minimum:
            raise ValueError(
                f"{_env_name(info)} must be a whole number of at least {minimum}, not {raw!r}"
            )
        return value

    return BeforeValidator(check)


def _positive(unit: str) -> BeforeValidator:
    """A positive whole number of `unit`, digits only."""

    def check(raw: object, info: ValidationInfo) -> object:
        if not isinstance(raw, str):
            return raw
        text = raw.strip()
        if not text.isascii() or not text.isdigit() or int(text) <= 0:
            raise ValueError(f"{_env_name(info)} must be a positive number of {unit}, got {raw!r}")
        return int(text)

    return BeforeValidator(check)


def _parsed(parse: Callable[[str], object]) -> BeforeValidator:
    """A comma-separated list in the environment, parsed by `parse` (which names the
    variable in its errors); values already parsed pass through."""
    return BeforeValidator(lambda raw: parse(raw) if isinstance(raw, str) else raw)


def _secret(raw: object) -> object:
    return Secret(raw.strip()) if isinstance(raw, str) else raw


SecretSetting = Annotated[Secret | None, BeforeValidator(_secret)]


class Settings(BaseSettings):
    """Everything the runner, the panel and the tests need to know about their surroundings."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
        arbitrary_types_allowed=True,
        validate_default=True,
    )

    # Stores. URLs may embed passwords and the key decrypts every bot token: kept out of repr().
    database_url: str | None = Field(
        None,
        alias="DATABASE_URL",
        repr=False,
        description="PostgreSQL URL of the schema owner (migrations)",
        json_schema_extra={"shown": "embedded server"},
    )
    database_app_url: str | None = Field(
        None,
        alias="DATABASE_APP_URL",
        repr=False,
        description="URL of the non-owner role the app uses (Row-Level Security applies to it)",
        json_schema_extra={"shown": "derived from the secret key"},
    )
    db_pool_size: Annotated[int, _whole_number(0)] = Field(
        10, alias="DATABASE_POOL_SIZE", description="app connection pool size"
    )
    db_max_overflow: Annotated[int, _whole_number(0)] = Field(
        10, alias="DATABASE_MAX_OVERFLOW", description="connections beyond the pool at peaks"
    )
    redis_url: str | None = Field(
        None,
        alias="REDIS_URL",
        description="Redis URL (redis://... or unix:///path/redis.sock)",
        json_schema_extra={"shown": "embedded server"},
    )
    data_dir: Path = Field(
        Path(".data"),
        alias="COURSEBOT_DATA_DIR",
        description="embedded servers' data and the development secret key",
    )
    secret_key: str | None = Field(
        None,
        alias="COURSEBOT_SECRET_KEY",
        repr=False,
        description="Fernet key(s) encrypting secrets at rest (new,old for rotation)",
        json_schema_extra={"shown": "dev key file"},
    )
    production: bool = Field(
        False,
        alias="COURSEBOT_PRODUCTION",
        description="refuse to start without a secret key; Secure cookies",
    )
    # Where the panel, webhooks, /health and /metrics listen.
    panel_host: str = Field(
        "127.0.0.1", alias="COURSEBOT_HOST", description="address the panel listens on"
    )
    panel_port: Annotated[int, _whole_number(0)] = Field(
        8000, alias="COURSEBOT_PORT", description="port the panel listens on"
    )
    # Reverse proxies whose X-Forwarded-For / -Proto are believed; none by default.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode, _parsed(parse_trusted_proxies)] = Field(
        (),
        alias=TRUSTED_PROXIES_ENV,
        description="reverse proxies (IP addresses, networks) whose X-Forwarded-* are believed",
    )
    # `coursebot runner`: its own small listener for /health and /metrics (no panel).
    runner_port: Annotated[int, _whole_number(0)] = Field(
        8081,
        alias="COURSEBOT_RUNNER_PORT",
        description="port `coursebot runner` serves /health and /metrics on",
    )
    # Several runners share the bots through leases in PostgreSQL (DESIGN §8).
    lease_ttl_s: float = Field(
        10.0,
        alias="COURSEBOT_LEASE_TTL",
        gt=0,
        description="seconds a bot lease lasts without renewal (a dead runner's bots are "
        "taken over this long after its last renewal)",
    )
    lease_renew_s: float = Field(
        1.0,
        alias="COURSEBOT_LEASE_RENEW",
        gt=0,
        description="seconds between lease renewals (and bot pool rounds); well below the TTL",
    )
    public_base_url: str | None = Field(
        None,
        alias="COURSEBOT_PUBLIC_URL",
        description="public https base URL (webhook bots, YooKassa notifications)",
    )
    # Telegram.
    telegram_api_base: str | None = Field(
        None,
        alias="TELEGRAM_API_BASE",
        description="another Bot API server for every bot (self-hosted, or a fake)",
        json_schema_extra={"shown": "api.telegram.org"},
    )
    poll_timeout_s: Annotated[int, _whole_number(0)] = Field(
        25, alias="COURSEBOT_POLL_TIMEOUT", description="long-poll timeout of each bot, seconds"
    )
    chat_messages_per_second: float = Field(
        1.0, alias="COURSEBOT_CHAT_RATE", gt=0, description="messages per second to one chat"
    )
    chat_burst: Annotated[int, _whole_number(1)] = Field(
        3,
        alias="COURSEBOT_CHAT_BURST",
        description="messages one chat may get at once before the rate applies",
    )
    # The platform's default LLM endpoint (accounts may set their own).
    llm_base_url: str | None = Field(
        None, alias="OPENAI_BASE_URL", description="default OpenAI-compatible endpoint"
    )
    llm_api_key: str | None = Field(
        None, alias="OPENAI_API_KEY", repr=False, description="API key of that endpoint"
    )
    llm_model: str = Field(
        "gpt-4o-mini", alias="COURSEBOT_LLM_MODEL", description="model of that endpoint"
    )
    llm_timeout_s: float = Field(
        60.0, alias="COURSEBOT_LLM_TIMEOUT", gt=0, description="seconds one LLM call may take"
    )
    # Private (or plain http) destinations that outbound calls may reach: operator-only.
    outbound_allow: Annotated[AllowList, NoDecode, _parsed(AllowList.parse)] = Field(
        AllowList(),
        alias=ALLOW_SETTING,
        description="private or http destinations calls made for accounts may reach",
    )
    # Course work (parse, validate, export, preview) runs in worker processes (courses/workers.py):
    # how many, and per account how many jobs at once and how many more may wait.
    course_workers: Annotated[int, _whole_number(1)] = Field(
        default_factory=default_course_workers,
        alias="COURSEBOT_COURSE_WORKERS",
        description="processes that parse, validate, export and preview courses",
        json_schema_extra={"shown": "CPUs - 1, at least 1"},
    )
    course_jobs_per_account: Annotated[int, _whole_number(1)] = Field(
        2, alias="COURSEBOT_COURSE_JOBS_PER_ACCOUNT", description="course jobs one account runs"
    )
    course_queue_per_account: Annotated[int, _whole_number(0)] = Field(
        8,
        alias="COURSEBOT_COURSE_QUEUE_PER_ACCOUNT",
        description="course jobs of one account that may wait",
    )
    # Payments (each account's shop credentials are stored per account).
    yookassa_api_base: str | None = Field(
        None,
        alias="YOOKASSA_API_BASE",
        description="payments API base (a fake or a proxy in tests and staging)",
        json_schema_extra={"shown": "YooKassa"},
    )
    yookassa_check_ip: bool = Field(
        False,
        alias="YOOKASSA_CHECK_IP",
        description="accept notifications only from YooKassa's addresses",
    )
    # The panel's login and sessions.
    login_bot_token: SecretSetting = Field(
        None,
        alias="COURSEBOT_LOGIN_BOT_TOKEN",
        repr=False,
        description="token of the bot whose Telegram login signs panel logins",
    )
    superadmins: Annotated[frozenset[int], NoDecode, _parsed(parse_superadmins)] = Field(
        frozenset(), alias=SUPERADMINS_ENV, description="Telegram user ids of platform operators"
    )
    login_max_age_s: Annotated[int, _positive("seconds")] = Field(
        DEFAULT_LOGIN_MAX_AGE_S,
        alias="COURSEBOT_LOGIN_MAX_AGE",
        description="seconds a signed Telegram login stays acceptable",
    )
    session_max_age_s: Annotated[int, _positive("seconds")] = Field(
        DEFAULT_SESSION_MAX_AGE_S,
        alias="COURSEBOT_SESSION_MAX_AGE",
        description="seconds a panel session lasts",
    )
    cookie_secure: bool | None = Field(
        None,
        alias="COURSEBOT_COOKIE_SECURE",
        description="Secure cookies (plain http://localhost would never get them back)",
        json_schema_extra={"shown": "on in production"},
    )
    max_accounts_per_user: Annotated[int, _positive("accounts")] = Field(
        DEFAULT_MAX_ACCOUNTS_PER_USER,
        alias="COURSEBOT_MAX_ACCOUNTS_PER_USER",
        description="accounts one person may own (operators are exempt)",
    )
    # Logs.
    log_level: str = Field("INFO", alias="COURSEBOT_LOG_LEVEL", description="log level")
    log_format: Literal["text", "json"] = Field(
        "text",
        alias=LOG_FORMAT_ENV,
        description="text, or json for one JSON object per line",
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.resolve()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, raw: object) -> object:
        return raw.strip().upper() if isinstance(raw, str) else raw

    @field_validator("log_format", mode="before")
    @classmethod
    def _known_format(cls, raw: object) -> object:
        if isinstance(raw, str) and raw.strip().lower() not in LOG_FORMATS:
            raise ValueError(
                f"{LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}, got {raw!r}"
            )
        return raw.strip().lower() if isinstance(raw, str) else raw

    @model_validator(mode="after")
    def _renewed_in_time(self) -> Settings:
        """A lease renewed less often than a third of its life would lapse on one slow
        round, and its bots would change hands for nothing."""
        if self.lease_renew_s * 3 > self.lease_ttl_s:
            raise ValueError(
                "COURSEBOT_LEASE_RENEW must be at most a third of COURSEBOT_LEASE_TTL, got "
                f"{self.lease_renew_s:g} and {self.lease_ttl_s:g}"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        """Outside production the panel is usually plain http://localhost, where a Secure
        cookie would never come back; in production it is behind HTTPS."""
        return self.production if self.cookie_secure is None else self.cookie_secure

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the environment describes; SettingsError names what is malformed."""
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError("; ".join(_problems(exc))) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated like the environment's values)."""
        return type(self).model_validate({**self._as_fields(), **changes})

    def _as_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}


def _problems(exc: ValidationError) -> Iterator[str]:
    """One line per malformed variable: our own message when a validator wrote one, else the
    variable and what was expected; never the value (it may be a secret)."""
    for error in exc.errors(include_input=False):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, Exception):
            yield str(cause)
        else:
            name = ".".join(str(part) for part in error["loc"])
            yield f"{name}: {error['msg']}"


def setting_lines() -> Iterator[tuple[str, str, str]]:
    """(variable, default as shown, meaning) for every setting, in the model's order."""
    for field in Settings.model_fields.values():
        yield str(field.alias), _shown_default(field), field.description or ""


def _shown_default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown"), str):
        return str(extra["shown"])
    default = field.default
    if default is None or default in ((), frozenset()) or isinstance(default, AllowList):
        return "unset"
    if isinstance(default, bool):
        return "1" if default else "0"
    return str(default)
