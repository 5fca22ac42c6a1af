"""Process-wide payment settings, read once at start-up (not per account)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from adapters.payments.yookassa import API_BASE_ENV, DEFAULT_API_BASE

CHECK_IP_ENV = "YOOKASSA_CHECK_IP"


@dataclass(frozen=True)
class PaymentsConfig:
    # Tests and staging point this at a fake or a proxy; production keeps the default.
    api_base: str = DEFAULT_API_BASE
    # Off by default: behind a proxy the peer address is the proxy's (see ip_allowlist).
    check_ip: bool = False

    @classmethod
    def from_env(cls) -> PaymentsConfig:
        raw = os.environ.get(CHECK_IP_ENV, "").strip().lower()
        return cls(
            api_base=os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE,
            check_ip=raw in {"1", "true", "yes", "on"},
        )
