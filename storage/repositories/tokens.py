"""Enrollment tokens (the `<token>` of `cd_<deploymentId>_<token>` deep links).

A use is counted by ONE conditional UPDATE ... RETURNING: the row lock it takes serialises
concurrent starts, and PostgreSQL re-checks the WHERE clause (uses < max_uses, not revoked,
not expired, right user) on the updated row, so a group token with max_uses=10 admits exactly
ten students however many press /start at once. Call it in the transaction that starts the
run: if the run is not created, the rollback un-counts the use.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
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


@dataclass(frozen=True)
class TokenUse:
    """Outcome of `use`: the counted token, or why it was refused (for a clear message)."""

    token: EnrollmentToken | None
    refusal: TokenRefusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


async def create(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    kind: TokenKind | str,
    token: str | None = None,
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


async def find(
    session: AsyncSession, account_id: int, deployment_id: int, token: str
) -> EnrollmentToken | None:
    return await get_scoped(
        session,
        EnrollmentToken,
        account_id,
        EnrollmentToken.deployment_id == deployment_id,
        EnrollmentToken.token == token,
    )


async def list_all(
    session: AsyncSession, account_id: int, *, deployment_id: int | None = None
) -> list[EnrollmentToken]:
    stmt = select(EnrollmentToken).where(EnrollmentToken.account_id == account_id)
    if deployment_id is not None:
        stmt = stmt.where(EnrollmentToken.deployment_id == deployment_id)
    return list((await session.scalars(stmt.order_by(EnrollmentToken.id))).all())


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


async def use(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int,
    token: str,
    telegram_user_id: int,
    now: datetime | None = None,
) -> TokenUse:
    """Count one use of `token` if it is valid right now for this user."""
    at = now or func.now()
    t = EnrollmentToken
    stmt = (
        update(t)
        .where(
            t.account_id == account_id,
            t.deployment_id == deployment_id,
            t.token == token,
            t.revoked_at.is_(None),
            or_(t.expires_at.is_(None), t.expires_at > at),
            or_(t.max_uses.is_(None), t.uses < t.max_uses),
            or_(t.bound_telegram_user_id.is_(None), t.bound_telegram_user_id == telegram_user_id),
        )
        .values(uses=t.uses + 1)
        .returning(t)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    counted = result.one_or_none()
    if counted is not None:
        return TokenUse(counted)
    return TokenUse(None, await _why_refused(session, account_id, deployment_id, token, now))


async def _why_refused(
    session: AsyncSession,
    account_id: int,
    deployment_id: int,
    token: str,
    now: datetime | None,
) -> TokenRefusal:
    row = await find(session, account_id, deployment_id, token)
    if row is None:
        return TokenRefusal.NOT_FOUND
    current = now or await session.scalar(select(func.now()))
    assert current is not None  # SELECT now() gives a row
    return refusal_of(row.revoked_at, row.expires_at, row.max_uses, row.uses, current)


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
