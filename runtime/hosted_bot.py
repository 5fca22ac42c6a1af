"""A hosted bot as the runtime knows it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostedBot:
    """What the runtime knows about a bot it hosts."""

    bot_id: int
    account_id: int
    username: str
    default_deployment_id: int | None
