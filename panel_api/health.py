"""Health probe: answers whether the process can reach its PostgreSQL and Redis.

A load balancer or `curl` needs one cheap endpoint that says "this process can do its job";
checking both stores (not just that the HTTP server is up) is what makes it useful.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Check = Callable[[], Awaitable[object]]


@dataclass
class HealthProbe:
    checks: dict[str, Check]
    timeout_s: float = 2.0

    async def check(self) -> dict[str, Any]:
        results: dict[str, str] = {}
        for name, run in self.checks.items():
            try:
                await asyncio.wait_for(run(), self.timeout_s)
                results[name] = "ok"
            except Exception as exc:  # a health probe reports failures, it never raises
                results[name] = f"error: {type(exc).__name__}"
        status = "ok" if all(v == "ok" for v in results.values()) else "degraded"
        return {"status": status, "checks": results}
