"""Process settings read from the environment.

One frozen object built once at start-up, so a typo in an env var fails loudly at boot
rather than deep inside a request.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from storage.outbound.policy import ALLOW_SETTING, AllowList

TRUSTED_PROXIES_ENV = "COURSEBOT_TRUSTED_PROXIES"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


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
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV} must be comma-separated IP addresses or networks "
                f"(e.g. 10.0.0.5,10.1.0.0/16), got {part!r}"
            ) from None
    return tuple(networks)


def _env_int(name: str, default: int, *, minimum: int) -> int:
    """A whole number of at least `minimum`; anything else stops the start-up, naming the
    variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, not {raw!r}")
    return value


def default_course_workers() -> int:
    """One CPU stays with the event loop; at least one worker process exists."""
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class Settings:
    """Everything the runner, the panel and the tests need to know about their surroundings."""

    data_dir: Path = field(default_factory=lambda: Path(".data"))
    # URLs may embed passwords and the key decrypts every bot token: kept out of repr().
    database_url: str | None = field(default=None, repr=False)
    database_app_url: str | None = field(default=None, repr=False)
    redis_url: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    production: bool = False
    panel_host: str = "127.0.0.1"
    panel_port: int = 8000
    # Reverse proxies whose X-Forwarded-For / -Proto are believed; none by default.
    trusted_proxies: tuple[str, ...] = ()
    public_base_url: str | None = None
    telegram_api_base: str | None = None
    log_level: str = "INFO"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    poll_timeout_s: int = 25
    chat_messages_per_second: float = 1.0
    chat_burst: int = 3
    llm_base_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 60.0
    # Private (or plain http) destinations that outbound calls may reach: operator-only.
    outbound_allow: AllowList = field(default_factory=AllowList)
    # Course work (parse, validate, export, preview) runs in worker processes (courses/workers.py):
    # how many, and per account how many jobs at once and how many more may wait.
    course_workers: int = field(default_factory=default_course_workers)
    course_jobs_per_account: int = 2
    course_queue_per_account: int = 8

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_dir=Path(os.environ.get("COURSEBOT_DATA_DIR", ".data")).resolve(),
            database_url=os.environ.get("DATABASE_URL") or None,
            database_app_url=os.environ.get("DATABASE_APP_URL") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            secret_key=os.environ.get("COURSEBOT_SECRET_KEY") or None,
            production=_env_bool("COURSEBOT_PRODUCTION", False),
            panel_host=os.environ.get("COURSEBOT_HOST", "127.0.0.1"),
            panel_port=int(os.environ.get("COURSEBOT_PORT", "8000")),
            trusted_proxies=parse_trusted_proxies(os.environ.get(TRUSTED_PROXIES_ENV, "")),
            public_base_url=os.environ.get("COURSEBOT_PUBLIC_URL") or None,
            telegram_api_base=os.environ.get("TELEGRAM_API_BASE") or None,
            log_level=os.environ.get("COURSEBOT_LOG_LEVEL", "INFO").upper(),
            db_pool_size=int(os.environ.get("DATABASE_POOL_SIZE", "10")),
            db_max_overflow=int(os.environ.get("DATABASE_MAX_OVERFLOW", "10")),
            poll_timeout_s=int(os.environ.get("COURSEBOT_POLL_TIMEOUT", "25")),
            chat_messages_per_second=float(os.environ.get("COURSEBOT_CHAT_RATE", "1.0")),
            chat_burst=_env_int("COURSEBOT_CHAT_BURST", 3, minimum=1),
            llm_base_url=os.environ.get("OPENAI_BASE_URL") or None,
            llm_api_key=os.environ.get("OPENAI_API_KEY") or None,
            llm_model=os.environ.get("COURSEBOT_LLM_MODEL", "gpt-4o-mini"),
            llm_timeout_s=float(os.environ.get("COURSEBOT_LLM_TIMEOUT", "60")),
            outbound_allow=AllowList.parse(os.environ.get(ALLOW_SETTING, "")),
            course_workers=_env_int(
                "COURSEBOT_COURSE_WORKERS", default_course_workers(), minimum=1
            ),
            course_jobs_per_account=_env_int("COURSEBOT_COURSE_JOBS_PER_ACCOUNT", 2, minimum=1),
            course_queue_per_account=_env_int("COURSEBOT_COURSE_QUEUE_PER_ACCOUNT", 8, minimum=0),
        )
