"""Process-wide payment settings (not per account), taken from the process's Settings."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.payments.yookassa import DEFAULT_API_BASE
from storage.config import Settings


@dataclass(frozen=True)
class PaymentsConfig:
    # Tests and staging point this at a fake or a proxy (YOOKASSA_API_BASE).
    api_base: str = DEFAULT_API_BASE
    # Off by default: behind a proxy the peer address is the proxy's (see ip_allowlist).
    check_ip: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PaymentsConfig:
        return cls(
            api_base=settings.yookassa_api_base or DEFAULT_API_BASE,
            check_ip=settings.yookassa_check_ip,
        )
