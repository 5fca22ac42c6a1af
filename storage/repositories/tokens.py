"""Enrollment tokens (the `<token>` of `cd_<deploymentId>_<token>` deep links), as the
panel makes, lists and revokes them.

A `/start` counts a use in the journal's transaction (storage/admission_batch.py
`_USE_TOKENS`); `refusal_of` says why one was not counted.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import EnrollmentToken, TokenKind
from storage.repositories._common import get_scoped, rows_changed

TOKEN_BYTES = 12  # 16 url-safe chars: well inside the 32 allowed, unguessable


class TokenRefusal(enum.StrEnum):
    NOT_FOUND = "not_found"
    REVOKED = "revoked"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    WRONG_USER = "wrong_user"


async def create(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    kind: TokenKind | str,
    token: str | None = None,
    label: str | None = None,
    max_uses: int | None = None,
    bound_telegram_user_id: int | None = None,
    expires_at: datetime | None = None,
    utm: dict[str, str | None] | None = None,
) -> EnrollmentToken:
    """`token` defaults to a random url-safe string; `utm` keys are source/medium/... ."""
    utm = utm or {}
    unknown = set(utm) - {"source", "medium", "campaign", "content", "term"}
    if unknown:
        raise ValueError(f"unknown UTM keys: {sorted(unknown)}")
    row = EnrollmentToken(
        account_id=account_id,
        deployment_id=deployment_id,
        kind=TokenKind(kind).value,
        token=token or secrets.token_urlsafe(TOKEN_BYTES),
        label=label,
        max_uses=max_uses,
        bound_telegram_user_id=bound_telegram_user_id,
        expires_at=expires_at,
        **{f"utm_{key}": value for key, value in utm.items()},
    )
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, account_id: int, token_id: int) -> EnrollmentToken | None:
    return await get_scoped(session, EnrollmentToken, account_id, EnrollmentToken.id == token_id)


async def revoke(
    session: AsyncSession, account_id: int, token_id: int, *, now: datetime | None = None
) -> bool:
    stmt = (
        update(EnrollmentToken)
        .where(
            EnrollmentToken.account_id == account_id,
            EnrollmentToken.id == token_id,
            EnrollmentToken.revoked_at.is_(None),
        )
        .values(revoked_at=now or func.now())
    )
    return await rows_changed(session, stmt) > 0


def refusal_of(
    revoked_at: datetime | None,
    expires_at: datetime | None,
    max_uses: int | None,
    uses: int,
    now: datetime,
) -> TokenRefusal:
    """Why an existing token was not counted for a student just now."""
    if revoked_at is not None:
        return TokenRefusal.REVOKED
    if expires_at is not None and expires_at <= now:
        return TokenRefusal.EXPIRED
    if max_uses is not None and uses >= max_uses:
        return TokenRefusal.EXHAUSTED
    return TokenRefusal.WRONG_USER
