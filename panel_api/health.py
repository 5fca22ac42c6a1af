"""Health probe: answers whether the process can do its job.

A load balancer, an orchestrator's readiness probe or `curl` needs one cheap endpoint that
says "this process can do its job": both stores answer and, for a process with bots, it has
joined the bot leases and keeps them renewed (process.py adds that check). `facts` add what
an operator looks at next: the process's role, leases held, the age of the oldest update
its bots have not handled, the journal's queue.
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
    role: str | None = None  # up | runner | panel
    facts: Callable[[], Awaitable[dict[str, Any]]] | None = None

    async def check(self) -> dict[str, Any]:
        results: dict[str, str] = {}
        for name, run in self.checks.items():
            try:
                await asyncio.wait_for(run(), self.timeout_s)
                results[name] = "ok"
            except Exception as exc:  # a health probe reports failures, it never raises
                results[name] = f"error: {type(exc).__name__}"
        status = "ok" if all(v == "ok" for v in results.values()) else "degraded"
        report: dict[str, Any] = {"status": status, "checks": results}
        if self.role is not None:
            report["role"] = self.role
        if self.facts is not None:
            try:
                report.update(await asyncio.wait_for(self.facts(), self.timeout_s))
            except Exception as exc:
                report["facts"] = f"error: {type(exc).__name__}"
        return report
