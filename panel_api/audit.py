"""One call per write: who did what to which object, in the write's own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from storage.repositories import audit


async def record(
    session: AsyncSession,
    access: Access,
    action: str,
    object_type: str,
    object_id: int | str | None = None,
    **details: Any,
) -> None:
    """`details` must never hold secrets (tokens, keys, credentials): ids and names only."""
    await audit.record(
        session,
        access.account_id,
        actor=access.actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=_plain(details),
    )


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in details.items() if value is not None}
